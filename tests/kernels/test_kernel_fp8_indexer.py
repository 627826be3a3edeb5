"""fp8_gemm, indexer_logits (bf16/fp32 and FP8) and topk_indices: Triton (interpreter) against the references."""
import pytest
import torch

from kernels.act_quant import act_quant_ref
from kernels.fp8_gemm import fp8_gemm_ref, fp8_gemm_triton
from kernels.indexer_logits import (
    indexer_logits_fp8_ref,
    indexer_logits_fp8_triton,
    indexer_logits_ref,
    indexer_logits_triton,
)
from kernels.topk_indices import topk_indices_ref, topk_indices_triton


def _weight_quant(w):
    """[N, K] -> e4m3 with one scale per 128x128 tile (the checkpoint format)."""
    n, k = w.shape
    nb, kb = -(-n // 128), -(-k // 128)
    wp = torch.nn.functional.pad(w, (0, kb * 128 - k, 0, nb * 128 - n))
    tiles = wp.view(nb, 128, kb, 128)
    scale = tiles.abs().amax(dim=(1, 3)).clamp_min(1e-4) / 448.0
    q = (tiles / scale[:, None, :, None]).view(nb * 128, kb * 128)[:n, :k].to(torch.float8_e4m3fn)
    return q, scale


@pytest.mark.parametrize("tma", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 16, 128), (5, 130, 208), (33, 64, 384), (3, 7, 1), (2, 9, 200)])
def test_fp8_gemm(m, n, k, tma):
    torch.manual_seed(0)
    a, b = torch.randn(m, k), torch.randn(n, k) * 0.05
    aq, as_ = act_quant_ref(a, 128)
    bq, bs = _weight_quant(b)
    got = fp8_gemm_triton(aq, as_, bq, bs, use_tma=tma)  # (K % 16 != 0 falls back to pointer loads)
    want = fp8_gemm_ref(aq, as_, bq, bs)
    assert got.dtype == torch.bfloat16 and got.shape == (m, n)
    torch.testing.assert_close(got.float(), want.float(), rtol=1e-2, atol=1e-3)
    # and the quantized product is close to the real one
    torch.testing.assert_close(want.float(), a @ b.t(), rtol=0.1, atol=0.1 * (a @ b.t()).abs().max().item())


@pytest.mark.parametrize("tma", [False, True])
def test_fp8_gemm_exact_on_small_integers(tma):
    """Small integers, power-of-two scales: every product and sum is exact, so the two paths agree bit for bit."""
    torch.manual_seed(1)
    a = torch.randint(-4, 5, (9, 256)).float()
    b = torch.randint(-4, 5, (140, 256)).float()
    a_s = 2.0 ** torch.randint(-2, 3, (9, 2)).float()
    b_s = 2.0 ** torch.randint(-2, 3, (2, 2)).float()
    got = fp8_gemm_triton(a.to(torch.float8_e4m3fn), a_s, b.to(torch.float8_e4m3fn), b_s, use_tma=tma)
    want = fp8_gemm_ref(a.to(torch.float8_e4m3fn), a_s, b.to(torch.float8_e4m3fn), b_s)
    assert torch.equal(got, want)


def _ranges(t, s, gen):
    starts = torch.randint(0, max(s, 1), (t,), generator=gen)
    ends = torch.minimum(starts + torch.randint(0, s + 1, (t,), generator=gen), torch.tensor(s))
    starts[0], ends[0] = 0, s  # one full row
    if t > 1:
        starts[1], ends[1] = 3, 3  # one empty row
    return starts.int(), ends.int()


@pytest.mark.parametrize("t,h,d,s", [(1, 1, 16, 5), (6, 4, 32, 70), (3, 3, 20, 33), (17, 2, 64, 40)])
def test_indexer_logits(t, h, d, s):
    g = torch.Generator().manual_seed(t * 100 + s)
    q, k = torch.randn(t, h, d, generator=g), torch.randn(s, d, generator=g)
    w = torch.randn(t, h, generator=g)
    starts, ends = _ranges(t, s, g)
    got = indexer_logits_triton(q, k, w, starts, ends)
    want = indexer_logits_ref(q, k, w, starts, ends)
    assert torch.equal(torch.isinf(got), torch.isinf(want))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    if t > 1:
        assert torch.isinf(got[1]).all()


def test_indexer_logits_bf16():
    g = torch.Generator().manual_seed(5)
    t, h, d, s = 5, 8, 64, 50
    q, k = torch.randn(t, h, d, generator=g).bfloat16(), torch.randn(s, d, generator=g).bfloat16()
    w = torch.randn(t, h, generator=g)
    starts, ends = torch.zeros(t, dtype=torch.int32), torch.arange(s - t + 1, s + 1, dtype=torch.int32)
    got = indexer_logits_triton(q, k, w, starts, ends)
    want = indexer_logits_ref(q, k, w, starts, ends)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)


def test_indexer_logits_fp8():
    g = torch.Generator().manual_seed(6)
    t, h, d, s = 4, 4, 128, 37
    q, k = torch.randn(t, h, d, generator=g), torch.randn(s, d, generator=g)
    qq, qs = act_quant_ref(q, 128)
    kq, ks = act_quant_ref(k, 128)
    w0 = torch.randn(t, h, generator=g)
    w = w0 * qs[..., 0]  # q's scale folded into the weights
    starts, ends = _ranges(t, s, g)
    got = indexer_logits_fp8_triton(qq, kq, ks[:, 0], w, starts, ends)
    want = indexer_logits_fp8_ref(qq, kq, ks[:, 0], w, starts, ends)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    real = indexer_logits_ref(q, k, w0, starts, ends)
    fin = torch.isfinite(real)
    assert torch.equal(fin, torch.isfinite(want))
    assert (want[fin] - real[fin]).abs().max() < 0.1 * real[fin].abs().max()


@pytest.mark.parametrize("t,s,k", [(3, 10, 4), (4, 100, 16), (2, 5, 8), (3, 600, 50), (1, 1, 1), (2, 0, 3)])
def test_topk_indices(t, s, k):
    g = torch.Generator().manual_seed(s + k)
    x = torch.randn(t, s, generator=g)
    if t > 1 and s > 4:
        x[1, : s // 2] = float("-inf")  # fewer finite than k in some cases
        x[1, 0] = float("nan")
        x[1, 1] = float("inf")
    got = topk_indices_triton(x, k)
    want = topk_indices_ref(x, k)
    assert got.dtype == torch.int32 and got.shape == (t, k)
    assert torch.equal(got, want)
    for r in range(t):
        valid = want[r][want[r] >= 0].long()
        finite = x[r][torch.isfinite(x[r])]
        assert len(valid) == min(k, len(finite))
        if len(valid):
            assert x[r, valid].min() >= torch.topk(finite, len(valid)).values.min()


def test_topk_indices_ties_and_all_invalid():
    x = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.5, 2.0], [float("-inf")] * 6, [3.0, -1.0, 3.0, -0.0, 0.0, -2.0]])
    got = topk_indices_triton(x, 3)
    assert got.tolist() == [[1, 2, 3], [-1, -1, -1], [0, 2, 3]]
    assert torch.equal(got, topk_indices_ref(x, 3))


def test_topk_indices_multi_tile():
    """Rows longer than one tile take the streaming path (several tiles per pass)."""
    g = torch.Generator().manual_seed(9)
    x = torch.randn(2, 1500, generator=g).round(decimals=1)  # many ties across tiles
    x[1, 700:] = float("-inf")
    got = topk_indices_triton(x, 300)
    assert torch.equal(got, topk_indices_ref(x, 300))


def test_indexer_then_topk_matches_dense_topk():
    g = torch.Generator().manual_seed(11)
    t, h, d, s = 4, 2, 32, 40
    q, k, w = torch.randn(t, h, d, generator=g), torch.randn(s, d, generator=g), torch.rand(t, h, generator=g)
    ends = torch.tensor([10, 20, 30, 40], dtype=torch.int32)
    idx = topk_indices_triton(indexer_logits_triton(q, k, w, torch.zeros_like(ends), ends), 16)
    assert (idx[0, 10:] == -1).all() and (idx[1:] >= 0).all()
    assert (idx[0, :10] == torch.arange(10)).all()
