"""The model through the Triton kernels (forced, under TRITON_INTERPRET=1) computes what it computes through their
PyTorch references (the CPU default): prefill, a prefill into a cache and decode steps over it, in float32."""
from __future__ import annotations

import pytest
import torch

import kernels
import kernels.ops
import model
from model.layers.cache import ContiguousCache
from model.layers.fp8_linear import FP8Linear
from model.layers.quant import quantize_fp8_blocks

# Each family's kernels: those every model uses, then the attention's and the feed-forward's.
EXPECTED = {
    "deepseek_v32": {"rmsnorm", "rope", "indexer_logits", "topk_indices", "sparse_mla_decode", "fused_moe"},
    "deepseek_v3": {"rmsnorm", "rope", "sparse_mla_decode", "fused_moe"},
    "llama": {"rmsnorm", "rope"},
}


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours - ref).abs().max() / ref.abs().max())


def run(ours, tokens: torch.Tensor, prefill: int) -> torch.Tensor:
    """Logits of a full forward (no cache), then of `prefill` tokens into a cache and one-token decode steps."""
    full = ours(tokens)
    cache = ContiguousCache(batch_size=tokens.shape[0], max_len=tokens.shape[1])
    steps = [ours(tokens[:, :prefill], torch.arange(prefill), cache=cache)]
    for t in range(prefill, tokens.shape[1]):
        steps.append(ours(tokens[:, t:t + 1], torch.tensor([t]), cache=cache))
    return torch.cat((full, torch.cat(steps, dim=1)))


@pytest.fixture
def triton_calls(monkeypatch):
    """The names of the ops that ran as Triton kernels."""
    used: set[str] = set()
    impl = kernels.ops._impl

    def spy(op, lead, fn=None):
        chosen = impl(op, lead, fn)
        if chosen.__name__.endswith("_triton"):
            used.add(fn or op)
        return chosen

    monkeypatch.setattr(kernels.ops, "_impl", spy)
    return used


@pytest.mark.parametrize("family", list(EXPECTED))
def test_triton_kernels_give_the_reference_logits(checkpoints, family, triton_calls):
    ours = model.load(checkpoints[family][0])
    tokens = torch.randint(0, 96, (2, 7), generator=torch.Generator().manual_seed(3))
    with kernels.use_backend("torch"):
        ref = run(ours, tokens, prefill=5)  # index_topk = 4 < 5: DSA selects in prefill and in every decode step
    assert not triton_calls
    with kernels.use_backend("triton"):
        got = run(ours, tokens, prefill=5)
    assert triton_calls == EXPECTED[family]
    assert relative_error(got, ref) <= 1e-5, f"{family}: {relative_error(got, ref)}"


def test_fp8_indexer_selects_the_same_keys(checkpoints, triton_calls):
    """bf16 loading scores FP8 q and k (Hadamard, act_quant, indexer_logits_fp8): same top-k through both paths."""
    ours = model.load(checkpoints["deepseek_v32"][0], dtype=torch.bfloat16)
    attn = ours.model.layers[0].self_attn
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1, 6, 64, generator=gen).bfloat16()
    qr = torch.randn(1, 6, 32, generator=gen).bfloat16()
    cos, sin = ours.rope(torch.arange(6)[None])
    ends = torch.arange(1, 7)[None]
    picked = {}
    for backend in ("torch", "triton"):
        with kernels.use_backend(backend), torch.inference_mode():
            keys = attn.indexer.keys(x, cos, sin)
            picked[backend] = (keys, attn.indexer.topk(x, qr, cos, sin, keys, ends))
    assert triton_calls == {"rope", "hadamard", "act_quant", "indexer_logits_fp8", "topk_indices"}
    assert torch.equal(picked["torch"][0], picked["triton"][0])
    assert torch.equal(picked["torch"][1], picked["triton"][1])


def test_fp8_linear_runs_fp8_gemm(triton_calls):
    """Kept FP8 weights in 128x128 blocks: act_quant + fp8_gemm, the same through both paths and within FP8 error
    of the widened weight."""
    gen = torch.Generator().manual_seed(6)
    weight, scale = quantize_fp8_blocks(torch.randn(96, 160, generator=gen) / 12, (128, 128))
    layer = FP8Linear(weight, scale)
    x = torch.randn(2, 3, 160, generator=gen).bfloat16()
    with kernels.use_backend("torch"):
        ref = layer(x)
    with kernels.use_backend("triton"):
        got = layer(x)
    assert triton_calls == {"act_quant", "fp8_gemm"}
    assert got.shape == (2, 3, 96) and got.dtype == torch.bfloat16
    assert relative_error(got.float(), ref.float()) <= 1e-2
    widened = x.float() @ layer.dequantized().t()
    assert relative_error(ref.float(), widened) <= 0.1


def test_fp8_linear_with_ue8m0_scales_quantizes_activations_to_power_of_two_scales(triton_calls):
    """scale_fmt ue8m0: x is quantized with its block scales rounded up to 2^k, and the GEMM sees exactly that."""
    from kernels.act_quant import act_quant_ref

    gen = torch.Generator().manual_seed(7)
    weight, scale = quantize_fp8_blocks(torch.randn(96, 256, generator=gen) / 12, (128, 128))
    x = torch.randn(5, 256, generator=gen).bfloat16()
    x_fp8, x_scale = act_quant_ref(x, 128, pow2_scale=True)
    assert torch.equal(x_scale, 2.0 ** torch.log2(x_scale).round())
    expected = (x_fp8.float().view(5, 2, 128) * x_scale[..., None]).view(5, 256) @ \
        FP8Linear(weight, scale).dequantized().t()
    for backend in ("torch", "triton"):
        with kernels.use_backend(backend):
            pow2 = FP8Linear(weight, scale, pow2_scales=True)(x)
            plain = FP8Linear(weight, scale)(x)
        assert relative_error(pow2.float(), expected) <= 1e-2, backend
        assert not torch.equal(pow2, plain), backend  # the other scales quantize x differently


def test_experts_are_stacked_without_a_second_copy(checkpoints):
    """fused_moe reads w13/w2; the experts' own weights (and the checkpoint names) are views into them."""
    ours = model.load(checkpoints["deepseek_v3"][0])
    moe = ours.model.layers[1].mlp
    inter = moe.experts[0].gate_proj.weight.shape[0]
    assert moe.w13.shape == (8, 2 * inter, 64) and moe.w2.shape == (8, 64, inter)
    for e, expert in enumerate(moe.experts):
        assert expert.up_proj.weight.data_ptr() == moe.w13[e, inter:].data_ptr()
        assert expert.down_proj.weight.data_ptr() == moe.w2[e].data_ptr()
    assert not any(name.endswith(("w13", "w2")) for name in ours.state_dict())
