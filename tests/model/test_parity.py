"""Our Transformer against transformers' own forward, per family, in float32."""
from __future__ import annotations

import pytest
import torch

import model
from model.layers.cache import ContiguousCache

FAMILIES = ["deepseek_v3", "deepseek_v32", "deepseek_v2", "deepseek_v2_grouped", "llama", "llama3", "qwen2"]


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_match_transformers(checkpoints, tokens, family):
    path, ref_model = checkpoints[family]
    ours = model.load(path)
    with torch.no_grad():
        ref = ref_model(tokens).logits.float()
    got = ours(tokens)
    assert got.shape == ref.shape and got.dtype == torch.float32
    assert relative_error(got, ref) <= 1e-4, f"{family}: max abs diff / logits scale = {relative_error(got, ref)}"


@pytest.mark.parametrize("family", ["deepseek_v32", "deepseek_v2", "llama"])
def test_decode_over_cache_equals_prefill(checkpoints, tokens, family):
    """Prefill 7 tokens into a cache, then decode the rest one by one: same logits as one full forward
    (MLA in absorbed mode over the cached latents; DSA top-k over the cached indexer keys)."""
    ours = model.load(checkpoints[family][0])
    full = ours(tokens)
    cache = ContiguousCache(batch_size=tokens.shape[0], max_len=16)
    steps = [ours(tokens[:, :7], torch.arange(7), cache=cache)]
    for t in range(7, tokens.shape[1]):
        steps.append(ours(tokens[:, t:t + 1], torch.tensor([t]), cache=cache))
    assert relative_error(torch.cat(steps, dim=1), full) <= 1e-5


def test_absorbed_equals_expanded(checkpoints, tokens):
    ours = model.load(checkpoints["deepseek_v3"][0])
    assert relative_error(ours(tokens, absorb=True), ours(tokens, absorb=False)) <= 1e-5


def test_sparse_attention_is_exercised(checkpoints, tokens):
    """With index_topk < T, DSA must differ from dense MLA: guard against a test that passes by ignoring it."""
    ours = model.load(checkpoints["deepseek_v32"][0])
    sparse = ours(tokens)
    for layer in ours.model.layers:
        layer.self_attn.indexer.index_topk = 10_000
    assert relative_error(sparse, ours(tokens)) > 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(checkpoints, tokens):
    path, _ = checkpoints["deepseek_v32"]
    cpu = model.load(path)(tokens)
    gpu = model.load(path, device="cuda")(tokens.cuda()).cpu()
    assert relative_error(gpu, cpu) <= 1e-4
    bf16 = model.load(path, device="cuda", dtype="bfloat16")(tokens.cuda())
    assert torch.isfinite(bf16).all()
