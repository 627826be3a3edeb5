"""Text generation: the Backend contract, the remote client, and the local engine.

`model.load(path, device, dtype) -> Transformer` builds a local model from a checkpoint directory. Imports here stay
light (no torch, no transformers): the proving loop imports `model.backend`; `Transformer` and `ModelConfig` are
importable from here too, loaded on first use.
"""
from __future__ import annotations


def load(path, device="cpu", dtype=None, keep_fp8=False):
    """Load a checkpoint directory (config.json + safetensors) as a Transformer; dtype defaults to float32 (exact).

    dtype is a torch.dtype or its name ("bfloat16"); keep_fp8 keeps FP8 checkpoint weights in FP8 (not with float32).
    """
    import torch

    from model.errors import ModelError
    from model.loader import load as _load

    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ModelError(f"dtype {dtype!r} is not a torch dtype (try float32 or bfloat16)")
        dtype = getattr(torch, dtype)
    return _load(path, device=device, dtype=dtype or torch.float32, keep_fp8=keep_fp8)


def __getattr__(name):
    if name == "Transformer":
        from model.layers.transformer import Transformer

        return Transformer
    if name == "ModelConfig":
        from model.config import ModelConfig

        return ModelConfig
    raise AttributeError(f"module 'model' has no attribute {name!r}")


_layers_getattr = __getattr__


def __getattr__(name):  # noqa: F811 - extends the one above
    """`model.Engine` and `model.SamplingParams`, imported on first use (they pull in torch)."""
    if name == "Engine":
        from model.engine.engine import Engine

        return Engine
    if name == "SamplingParams":
        from model.engine.sequence import SamplingParams

        return SamplingParams
    return _layers_getattr(name)
