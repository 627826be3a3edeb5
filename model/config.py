"""ModelConfig: one flat description of a checkpoint's architecture, read from its Hugging Face config.json.

Families: deepseek_v2, deepseek_v3, deepseek_v32 (MLA attention, DeepSeekMoE, the lightning indexer when the config
has `index_topk`) and the dense llama / qwen2 (GQA attention, SwiGLU). Field names follow config.json, so a reader can
look a value up in the checkpoint. A config.json is untrusted input: every field read is checked for its type and
range first (check_fields), so a wrong one is one ModelError naming the file and the field.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from model.errors import ModelError

MLA_FAMILIES = ("deepseek_v2", "deepseek_v3", "deepseek_v32")
MAX_SIZE = 1 << 24  # no dimension of any real model comes near; larger values are typos or hostile
MAX_LAYERS = 4096
# field -> kind: "size" (whole number 1..MAX_SIZE), "count" (0..MAX_SIZE), "layers" (1..MAX_LAYERS), "positive"
# (finite number > 0), "number" (finite), "bool", "str", "names" (list of strings)
FIELDS = {
    "vocab_size": "size", "hidden_size": "size", "num_hidden_layers": "layers", "num_attention_heads": "size",
    "num_key_value_heads": "size", "intermediate_size": "count", "rms_norm_eps": "positive",
    "max_position_embeddings": "size", "tie_word_embeddings": "bool", "head_dim": "size", "attention_bias": "bool",
    "q_lora_rank": "size", "kv_lora_rank": "size", "qk_nope_head_dim": "size", "qk_rope_head_dim": "size",
    "v_head_dim": "size", "rope_interleave": "bool", "index_topk": "count", "index_n_heads": "size",
    "index_head_dim": "size", "n_routed_experts": "count", "n_shared_experts": "count",
    "num_experts_per_tok": "count", "moe_intermediate_size": "count", "scoring_func": "str", "topk_method": "str",
    "n_group": "size", "topk_group": "size", "norm_topk_prob": "bool", "routed_scaling_factor": "positive",
    "first_k_dense_replace": "count", "moe_layer_freq": "size", "mlp_layer_types": "names",
    "rope_theta": "positive", "num_nextn_predict_layers": "count",
}
ROPE_FIELDS = {
    "rope_theta": "positive", "rope_type": "str", "type": "str", "factor": "positive",
    "original_max_position_embeddings": "size", "beta_fast": "positive", "beta_slow": "positive",
    "mscale": "number", "mscale_all_dim": "number", "attention_factor": "positive", "truncate": "bool",
    "low_freq_factor": "positive", "high_freq_factor": "positive",
}


def _field_problem(value, kind: str) -> str | None:
    """Why `value` is not of `kind`, or None."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if kind in ("size", "count", "layers"):
        low, high = (0 if kind == "count" else 1), (MAX_LAYERS if kind == "layers" else MAX_SIZE)
        if not whole or not low <= value <= high:
            return f"must be a whole number in [{low}, {high}]"
    elif kind in ("positive", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (kind == "positive" and value <= 0):
            return "must be a finite number" + (" > 0" if kind == "positive" else "")
    elif kind == "bool" and not isinstance(value, bool):
        return "must be true or false"
    elif kind == "str" and not isinstance(value, str):
        return "must be a string"
    elif kind == "names" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return "must be a list of strings"
    return None


def check_fields(hf, source: str) -> None:
    """ModelError naming the first field of a config dict that has the wrong type or is out of range."""
    if not isinstance(hf, dict):
        raise ModelError(f"{source}: must hold a JSON object, got {type(hf).__name__}")
    checks = [(key, hf.get(key), kind) for key, kind in FIELDS.items()]
    for holder in ("rope_scaling", "rope_parameters", "quantization_config"):
        value = hf.get(holder)
        if value is not None and not isinstance(value, dict):
            raise ModelError(f"{source}: field {holder!r} must be an object, got {repr(value)[:60]}")
    for holder in ("rope_scaling", "rope_parameters"):
        checks += [(f"{holder}.{key}", (hf.get(holder) or {}).get(key), kind) for key, kind in ROPE_FIELDS.items()]
    block = (hf.get("quantization_config") or {}).get("weight_block_size")
    if block is not None and not (isinstance(block, list) and len(block) == 2
                                  and all(_field_problem(b, "size") is None for b in block)):
        raise ModelError(f"{source}: field 'quantization_config.weight_block_size' must be two whole numbers >= 1, "
                         f"got {str(block)[:60]}")
    for key, value, kind in checks:
        problem = None if value is None else _field_problem(value, kind)
        if problem:
            raise ModelError(f"{source}: field {key!r} {problem}, got {repr(value)[:60]}")
GQA_FAMILIES = ("llama", "qwen2")


@dataclass
class RopeConfig:
    rope_theta: float = 10000.0
    rope_type: str = "default"  # default | yarn | linear | llama3
    factor: float = 1.0
    original_max_position_embeddings: int | None = None
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float | None = None
    mscale_all_dim: float | None = None
    attention_factor: float | None = None
    truncate: bool = True
    low_freq_factor: float = 1.0  # llama3: wavelengths above original / low_freq_factor are interpolated by factor
    high_freq_factor: float = 4.0  # llama3: wavelengths below original / high_freq_factor are kept


@dataclass
class ModelConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = False
    rope: RopeConfig = field(default_factory=RopeConfig)
    # GQA (llama, qwen2)
    head_dim: int = 0
    attention_bias: bool = False  # q/k/v biases (qwen2 has them)
    # MLA (deepseek)
    q_lora_rank: int | None = None
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    rope_interleave: bool = True
    # DSA lightning indexer (deepseek_v32)
    index_topk: int | None = None
    index_n_heads: int = 0
    index_head_dim: int = 0
    # DeepSeekMoE
    n_routed_experts: int = 0
    n_shared_experts: int = 0
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    scoring_func: str = "softmax"  # softmax | sigmoid
    topk_method: str = "greedy"  # greedy | group_limited_greedy | noaux_tc
    n_group: int = 1
    topk_group: int = 1
    norm_topk_prob: bool = False
    routed_scaling_factor: float = 1.0
    mlp_layer_types: list[str] = field(default_factory=list)  # "dense" | "sparse" per layer
    # loading hints
    fp8_block_size: tuple[int, int] | None = None  # from quantization_config, e.g. (128, 128)
    fp8_pow2_scales: bool = False  # quantization_config scale_fmt "ue8m0" (V3.1, V3.2): activation scales are 2^k

    @property
    def attention_kind(self) -> str:
        if self.model_type in GQA_FAMILIES:
            return "gqa"
        return "mla+dsa" if self.index_topk else "mla"

    @property
    def ffn_kind(self) -> str:
        return "moe" if "sparse" in self.mlp_layer_types else "dense"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_hf(cls, hf: dict, source: str = "config.json") -> ModelConfig:
        """Read a Hugging Face config dict; `source` names the file in error messages."""
        check_fields(hf, source)
        model_type = hf.get("model_type")
        if model_type not in MLA_FAMILIES + GQA_FAMILIES:
            raise ModelError(f"{source}: model_type {model_type!r} is not supported; "
                             f"expected one of {', '.join(MLA_FAMILIES + GQA_FAMILIES)}")

        def need(key):
            if hf.get(key) is None:
                raise ModelError(f"{source}: field {key!r} is missing (needed for {model_type})")
            return hf[key]

        heads = need("num_attention_heads")
        layers = need("num_hidden_layers")
        kv_heads = hf.get("num_key_value_heads") or heads
        uneven = heads % kv_heads or (not hf.get("head_dim") and need("hidden_size") % heads)
        if model_type in GQA_FAMILIES and uneven:
            raise ModelError(f"{source}: num_attention_heads {heads} must be a multiple of num_key_value_heads "
                             f"{kv_heads}, and hidden_size of num_attention_heads (or give head_dim)")
        cfg = cls(
            model_type=model_type,
            vocab_size=need("vocab_size"),
            hidden_size=need("hidden_size"),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=hf.get("num_key_value_heads") or heads,
            intermediate_size=hf.get("intermediate_size") or 0,
            rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
            max_position_embeddings=hf.get("max_position_embeddings", 4096),
            tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
            rope=_rope_from_hf(hf),
        )
        qc = hf.get("quantization_config") or {}
        if qc.get("quant_method") == "fp8" and qc.get("weight_block_size"):
            cfg.fp8_block_size = tuple(qc["weight_block_size"])
            cfg.fp8_pow2_scales = qc.get("scale_fmt") == "ue8m0"
        if model_type in GQA_FAMILIES:
            cfg.head_dim = hf.get("head_dim") or cfg.hidden_size // heads
            cfg.attention_bias = bool(hf.get("attention_bias", model_type == "qwen2"))
            cfg.mlp_layer_types = ["dense"] * layers
            cfg.check_sizes(source)
            return cfg

        cfg.q_lora_rank = hf.get("q_lora_rank")
        cfg.kv_lora_rank = need("kv_lora_rank")
        cfg.qk_nope_head_dim = need("qk_nope_head_dim")
        cfg.qk_rope_head_dim = need("qk_rope_head_dim")
        cfg.v_head_dim = need("v_head_dim")
        cfg.rope_interleave = model_type != "deepseek_v3" or bool(hf.get("rope_interleave", True))
        if hf.get("index_topk"):
            cfg.index_topk = hf["index_topk"]
            cfg.index_n_heads = need("index_n_heads")
            cfg.index_head_dim = need("index_head_dim")
            if cfg.q_lora_rank is None:
                raise ModelError(f"{source}: the lightning indexer (index_topk) needs q_lora_rank")
        v2 = model_type == "deepseek_v2"
        cfg.n_routed_experts = hf.get("n_routed_experts") or 0
        cfg.n_shared_experts = hf.get("n_shared_experts") or 0
        cfg.num_experts_per_tok = hf.get("num_experts_per_tok") or 0
        cfg.moe_intermediate_size = hf.get("moe_intermediate_size") or 0
        cfg.scoring_func = hf.get("scoring_func") or ("softmax" if v2 else "sigmoid")
        cfg.topk_method = hf.get("topk_method") or ("greedy" if v2 else "noaux_tc")
        cfg.n_group = hf.get("n_group") or 1
        cfg.topk_group = hf.get("topk_group") or 1
        cfg.norm_topk_prob = bool(hf.get("norm_topk_prob", not v2))
        cfg.routed_scaling_factor = float(hf.get("routed_scaling_factor") or 1.0)
        if hf.get("mlp_layer_types"):
            cfg.mlp_layer_types = list(hf["mlp_layer_types"])
        else:
            first_dense = hf.get("first_k_dense_replace") or 0
            freq = hf.get("moe_layer_freq") or 1
            cfg.mlp_layer_types = [
                "sparse" if cfg.n_routed_experts and i >= first_dense and i % freq == 0 else "dense"
                for i in range(layers)]
        if len(cfg.mlp_layer_types) != layers:
            raise ModelError(f"{source}: mlp_layer_types has {len(cfg.mlp_layer_types)} entries, "
                             f"expected num_hidden_layers = {layers}")
        if "sparse" in cfg.mlp_layer_types and cfg.n_routed_experts % cfg.n_group:
            raise ModelError(f"{source}: n_routed_experts {cfg.n_routed_experts} is not divisible by n_group "
                             f"{cfg.n_group}")
        cfg.check_sizes(source)
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.exists():
            raise ModelError(f"{path}: no config.json; point at a Hugging Face checkpoint directory")
        try:
            hf = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ModelError(f"{path}: cannot read the config ({e})") from e
        return cls.from_hf(hf, source=str(path))

    def check_sizes(self, source: str) -> None:
        """ModelError when fields that must agree with each other do not (each is checked alone in from_hf)."""
        if self.ffn_kind == "moe":
            if not 1 <= self.num_experts_per_tok <= self.n_routed_experts or not self.moe_intermediate_size:
                raise ModelError(f"{source}: a MoE model needs 1 <= num_experts_per_tok <= n_routed_experts and "
                                 f"moe_intermediate_size >= 1 (got {self.num_experts_per_tok}, "
                                 f"{self.n_routed_experts}, {self.moe_intermediate_size})")
            if self.topk_group > self.n_group:
                raise ModelError(f"{source}: topk_group {self.topk_group} is larger than n_group {self.n_group}")
        if "dense" in self.mlp_layer_types and not self.intermediate_size:
            raise ModelError(f"{source}: field 'intermediate_size' is missing (needed for the dense layers)")
        if any(t not in ("dense", "sparse") for t in self.mlp_layer_types):
            raise ModelError(f"{source}: mlp_layer_types entries must be 'dense' or 'sparse'")


def _rope_from_hf(hf: dict) -> RopeConfig:
    """Both spellings: `rope_parameters` (transformers >= 5) and `rope_theta` + `rope_scaling` (older files)."""
    params = dict(hf.get("rope_parameters") or {})
    scaling = hf.get("rope_scaling") or {}
    params = {**scaling, **params}
    rope = RopeConfig(rope_theta=float(params.get("rope_theta", hf.get("rope_theta", 10000.0))))
    rope.rope_type = params.get("rope_type") or params.get("type") or "default"
    if rope.rope_type not in ("default", "yarn", "linear", "llama3"):
        raise ModelError(f"config.json: rope type {rope.rope_type!r} is not supported (default, yarn, linear, llama3)")
    rope.factor = float(params.get("factor") or 1.0)
    rope.original_max_position_embeddings = params.get("original_max_position_embeddings")
    rope.beta_fast = float(params.get("beta_fast") or 32)
    rope.beta_slow = float(params.get("beta_slow") or 1)
    rope.mscale = params.get("mscale")
    rope.mscale_all_dim = params.get("mscale_all_dim")
    rope.attention_factor = params.get("attention_factor")
    rope.truncate = bool(params.get("truncate", True))
    rope.low_freq_factor = float(params.get("low_freq_factor") or 1.0)
    rope.high_freq_factor = float(params.get("high_freq_factor") or 4.0)
    if rope.rope_type == "llama3" and rope.original_max_position_embeddings is None:
        raise ModelError("config.json: llama3 rope scaling needs original_max_position_embeddings")
    return rope
