"""Load a Hugging Face checkpoint directory (config.json + safetensors) into a Transformer.

- shards: `model.safetensors.index.json` maps tensor names to files; else `model.safetensors`; else every
  `*.safetensors` in the directory;
- FP8: an e4m3 weight comes with `<name>_scale_inv`, one float per 128x128 block (the block from
  quantization_config); it is dequantized to `dtype`, or with keep_fp8 held as is in an FP8Linear;
- the routed experts of each MoE layer are stacked for kernels.fused_moe (model/layers/moe.py);
- multi-token-prediction layers (`model.layers.{num_hidden_layers}` and beyond) are skipped;
- every tensor is checked against the model: a missing, unexpected or mis-shaped tensor is one ModelError naming the
  tensor, the file, and the expected and actual shape.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from model.config import ModelConfig
from model.errors import ModelError
from model.layers.fp8_linear import FP8Linear
from model.layers.moe import MoE
from model.layers.quant import FP8, dequantize_fp8_blocks
from model.layers.rope import Rope
from model.layers.transformer import Transformer

LAYER = re.compile(r"^model\.layers\.(\d+)\.")
KEEP_FLOAT32 = ("e_score_correction_bias", "indexer.weights_proj.weight")
IGNORED = re.compile(r"rotary_emb\.inv_freq$")


def checkpoint_files(path: Path) -> dict[str, Path] | list[Path]:
    """{tensor name: shard} from the index, or the list of safetensors files to scan."""
    index = path / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{index}: not a readable safetensors index ({e})") from e
        if not isinstance(weight_map, dict) or not all(isinstance(f, str) and f and "/" not in f and f != ".."
                                                       for f in weight_map.values()):
            raise ModelError(f"{index}: weight_map must map tensor names to shard file names in the checkpoint")
        return {name: path / file for name, file in weight_map.items()}
    single = path / "model.safetensors"
    files = [single] if single.exists() else sorted(path.glob("*.safetensors"))
    if not files:
        raise ModelError(f"{path}: no safetensors weights (model.safetensors or an index); "
                         "pickled .bin checkpoints are not loaded")
    return files


class _Shards:
    """Open safetensors files lazily, once each, turning their failures into ModelError."""

    def __init__(self) -> None:
        self.open: dict[Path, object] = {}

    def handle(self, file: Path):
        from safetensors import safe_open

        if file not in self.open:
            if not file.exists():
                raise ModelError(f"{file}: shard listed in the checkpoint is missing")
            from model.info import read_safetensors_header

            read_safetensors_header(file)  # a clear message for a bad header, before safetensors reads it
            try:
                self.open[file] = safe_open(str(file), framework="pt")
            except Exception as e:  # safetensors raises its own error type for a bad header
                raise ModelError(f"{file}: corrupted safetensors file ({e})") from e
        return self.open[file]

    def keys(self, file: Path) -> list[str]:
        return list(self.handle(file).keys())

    def get(self, file: Path, name: str) -> torch.Tensor:
        try:
            return self.handle(file).get_tensor(name)
        except ModelError:
            raise
        except Exception as e:
            raise ModelError(f"{file}: cannot read tensor {name} ({e}); the file may be truncated") from e


def _is_linear(model: torch.nn.Module, name: str) -> bool:
    module_name, _, leaf = name.rpartition(".")
    return leaf == "weight" and type(model.get_submodule(module_name)) is torch.nn.Linear


def load(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
         keep_fp8: bool = False) -> Transformer:
    """Build the model described by PATH/config.json and fill it with PATH's safetensors weights.

    dtype float32 is the exact mode (no FP8 simulation anywhere); other dtypes follow the official inference code
    (the DSA indexer scores FP8-quantized q and k). keep_fp8 keeps FP8 weights as they are (FP8Linear) instead of
    widening them to dtype; it needs a non-float32 dtype."""
    path = Path(path)
    if keep_fp8 and dtype == torch.float32:
        raise ModelError("keep_fp8 needs dtype bfloat16 (or float16): float32 is the exact mode, without FP8")
    if not path.is_dir():
        raise ModelError(f"{path}: not a checkpoint directory (expected config.json and *.safetensors)")
    cfg = ModelConfig.from_file(path)
    from model.info import build_on_meta

    model = build_on_meta(cfg, path)
    expected = model.state_dict()
    located = checkpoint_files(path)
    shards = _Shards()
    if isinstance(located, list):
        located = {name: file for file in located for name in shards.keys(file)}
    block = cfg.fp8_block_size or (128, 128)

    loaded: dict[str, torch.Tensor] = {}
    kept: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # module name -> (FP8 weight, scale_inv)
    for name, file in located.items():
        if name.endswith("_scale_inv") or IGNORED.search(name):
            continue
        layer = LAYER.match(name)
        if layer and int(layer.group(1)) >= cfg.num_hidden_layers:
            continue  # multi-token prediction module
        if name not in expected:
            raise ModelError(f"{file}: unexpected tensor {name} (not part of a {cfg.model_type} model with this "
                             "config.json); is the config from another checkpoint?")
        tensor = shards.get(file, name)
        if tensor.dtype == FP8:
            scale_name = name + "_scale_inv"
            if scale_name not in located:
                raise ModelError(f"{file}: FP8 tensor {name} has no {scale_name}")
            scale = shards.get(located[scale_name], scale_name)
            want = tuple(-(-n // b) for n, b in zip(tensor.shape, block))
            if tuple(scale.shape) != want:
                raise ModelError(f"{located[scale_name]}: tensor {scale_name} has shape {tuple(scale.shape)}, "
                                 f"expected {want} for {tuple(tensor.shape)} weights in {block} blocks")
            if keep_fp8 and tensor.shape == expected[name].shape and _is_linear(model, name):
                kept[name.removesuffix(".weight")] = (tensor.to(device), scale.to(device))
                loaded[name] = expected[name]  # placeholder: the module is replaced below
                continue
            tensor = dequantize_fp8_blocks(tensor, scale, block)
        if tensor.shape != expected[name].shape:
            raise ModelError(f"{file}: tensor {name} has shape {tuple(tensor.shape)}, expected "
                             f"{tuple(expected[name].shape)} from config.json")
        keep32 = name.endswith(KEEP_FLOAT32) or not tensor.is_floating_point()
        loaded[name] = tensor.to(device=device, dtype=torch.float32 if keep32 else dtype)

    tied = cfg.tie_word_embeddings and "lm_head.weight" not in loaded
    missing = [n for n in expected if n not in loaded and not (tied and n == "lm_head.weight")]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ModelError(f"{path}: tensor {missing[0]}{more} missing from the checkpoint "
                         f"(expected shape {tuple(expected[missing[0]].shape)})")
    model.load_state_dict({k: v for k, v in loaded.items() if not v.is_meta}, strict=False, assign=True)
    for module_name, (weight, scale) in kept.items():
        parent, _, child = module_name.rpartition(".")
        setattr(model.get_submodule(parent), child, FP8Linear(weight, scale, block, cfg.fp8_pow2_scales))
    if tied:
        model.lm_head.weight = model.model.embed_tokens.weight
    loaded.clear()  # the modules hold the weights now; stacking the experts then frees each one it moves
    for module in model.modules():
        if isinstance(module, MoE):
            module.stack_experts()
    rope_dim = cfg.head_dim if cfg.attention_kind == "gqa" else cfg.qk_rope_head_dim
    model.rope = Rope(rope_dim, cfg.rope, cfg.max_position_embeddings).to(device)
    for module in model.modules():
        if hasattr(module, "fp8"):
            module.fp8 = dtype != torch.float32
    return model.eval()
