"""What a checkpoint is, without loading its weights: architecture, sizes and kinds, from config.json and headers."""
from __future__ import annotations

import json
from pathlib import Path

from model.config import ModelConfig
from model.errors import ModelError


def checkpoint_dtype(path: Path, hf: dict) -> str:
    """The weights' storage dtype: FP8 when quantized, else config.json's dtype, else the first tensor's."""
    qc = hf.get("quantization_config") or {}
    if qc.get("quant_method") == "fp8":
        scales = ", ue8m0 activation scales" if qc.get("scale_fmt") == "ue8m0" else ""
        return "float8_e4m3fn (block " + "x".join(map(str, qc.get("weight_block_size") or [128, 128])) + scales + ")"
    declared = hf.get("dtype") or hf.get("torch_dtype")
    if declared:
        return str(declared)
    files = sorted(path.glob("*.safetensors"))
    if files:
        header = read_safetensors_header(files[0])
        for name, entry in header.items():
            if name != "__metadata__":
                return {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F8_E4M3": "float8_e4m3fn"}.get(
                    entry["dtype"], entry["dtype"])
    return "unknown"


MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header


def read_safetensors_header(file: Path) -> dict:
    """The JSON header of a safetensors file, checked: its length fits the file, it is an object of tensors, each
    with a dtype string, a shape of non-negative whole numbers and data offsets inside the file. ModelError naming
    the file and what is wrong otherwise; nothing larger than the file is ever read."""
    size = file.stat().st_size
    with open(file, "rb") as f:
        length = int.from_bytes(f.read(8), "little") if size >= 8 else -1
        if length < 2 or length > min(size - 8, MAX_HEADER):
            raise ModelError(f"{file}: not a safetensors file (header length {length} does not fit a file of "
                             f"{size} bytes)")
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except ValueError as e:
        raise ModelError(f"{file}: the safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ModelError(f"{file}: the safetensors header must be a JSON object")
    data = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            raise ModelError(f"{file}: tensor {name[:80]!r} has no dtype in the header")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                                  for n in shape):
            raise ModelError(f"{file}: tensor {name[:80]!r} has shape {str(shape)[:60]}, not a list of sizes >= 0")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(n, int) for n in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data):
            raise ModelError(f"{file}: tensor {name[:80]!r} has data offsets {str(offsets)[:60]} outside the "
                             f"{data} bytes of data; the file may be truncated")
    return header


def describe(path: str | Path) -> dict:
    """A summary of the checkpoint directory at `path` (or of the GGUF file, converted once to the cache)."""
    path = Path(path)
    if path.suffix == ".gguf" and path.is_file():
        from model.gguf_import import convert

        path = convert(path)
    cfg = ModelConfig.from_file(path)
    try:
        hf = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path / 'config.json'}: not valid JSON ({e})") from e
    model = build_on_meta(cfg, path)
    total = model.num_parameters()
    routed_per_expert = 3 * cfg.hidden_size * cfg.moe_intermediate_size
    n_moe = cfg.mlp_layer_types.count("sparse")
    inactive = n_moe * (cfg.n_routed_experts - cfg.num_experts_per_tok) * routed_per_expert
    mtp = max(0, int(hf.get("num_nextn_predict_layers") or 0))
    return {
        "path": str(path),
        "architecture": cfg.model_type,
        "parameters": total,
        "active_parameters": total - inactive,
        "attention": cfg.attention_kind,
        "ffn": cfg.ffn_kind,
        "layers": cfg.num_hidden_layers,
        "moe_layers": n_moe,
        "mtp_layers_skipped": mtp,
        "hidden_size": cfg.hidden_size,
        "heads": cfg.num_attention_heads,
        "kv_heads": cfg.num_key_value_heads if cfg.attention_kind == "gqa" else None,
        "kv_lora_rank": cfg.kv_lora_rank or None,
        "q_lora_rank": cfg.q_lora_rank,
        "index_topk": cfg.index_topk,
        "routed_experts": cfg.n_routed_experts,
        "shared_experts": cfg.n_shared_experts,
        "experts_per_token": cfg.num_experts_per_tok,
        "routing": f"{cfg.scoring_func}/{cfg.topk_method}" if n_moe else None,
        "vocab_size": cfg.vocab_size,
        "rope": cfg.rope.rope_type,
        "dtype": checkpoint_dtype(path, hf),
    }


def build_on_meta(cfg: ModelConfig, path: Path):
    """The Transformer a config describes, without memory; ModelError when its sizes do not make one."""
    import torch

    from model.layers.transformer import Transformer

    try:
        with torch.device("meta"):
            return Transformer(cfg)
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError, IndexError) as e:
        raise ModelError(f"{path / 'config.json'}: its sizes do not make a {cfg.model_type} model ({e})") from None
