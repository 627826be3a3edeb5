"""Text generation, in rooms: `backends/` (the Backend contract, the remote client, the local backend), `engine/`
(the local engine), `serve/` (its OpenAI-compatible server), `layers/` (the model's layers); config, loader, GGUF
import, checkpoint info and errors at this level.

`model.load(path, device, dtype) -> Transformer` builds a local model from a checkpoint directory. Imports here stay
light (no torch, no transformers): the proving loop imports `model.backends.backend`; `Transformer`, `ModelConfig`,
`Engine` and `SamplingParams` are importable from here too, loaded on first use.
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


_LAZY = {  # name -> module; these pull in torch, so they load on first use
    "Transformer": "model.layers.transformer",
    "ModelConfig": "model.config",
    "Engine": "model.engine.engine",
    "SamplingParams": "model.engine.sequence",
}


def __getattr__(name):
    """`model.Transformer`, `model.ModelConfig`, `model.Engine` and `model.SamplingParams`, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
