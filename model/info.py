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
        with open(files[0], "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        for name, entry in header.items():
            if name != "__metadata__":
                return {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F8_E4M3": "float8_e4m3fn"}.get(
                    entry["dtype"], entry["dtype"])
    return "unknown"


def describe(path: str | Path) -> dict:
    """A summary of the checkpoint directory at `path` (or of the GGUF file, converted once to the cache)."""
    import torch

    from model.layers.transformer import Transformer

    path = Path(path)
    if path.suffix == ".gguf" and path.is_file():
        from model.gguf_import import convert

        path = convert(path)
    cfg = ModelConfig.from_file(path)
    try:
        hf = json.loads((path / "config.json").read_text())
    except ValueError as e:
        raise ModelError(f"{path / 'config.json'}: not valid JSON ({e})") from e
    with torch.device("meta"):
        model = Transformer(cfg)
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
