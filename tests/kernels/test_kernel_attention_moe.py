"""sparse_mla_decode and fused_moe: Triton (interpreter) against the references, plus the references' own math."""
import math

import pytest
import torch
import torch.nn.functional as F

from kernels.fused_moe import align_by_expert, fused_moe_ref, fused_moe_triton
from kernels.sparse_mla_decode import sparse_mla_decode_ref, sparse_mla_decode_triton


def _case(b, h, dqk, n, k, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, dqk, generator=g).to(dtype)
    kv = torch.randn(n, dqk, generator=g).to(dtype)
    idx = torch.randint(0, n, (b, k), generator=g, dtype=torch.int32)
    return q, kv, idx


@pytest.mark.parametrize("b,h,dqk,dv,n,k,splits", [
    (1, 1, 24, 16, 10, 5, None),     # H below the head block, ragged widths
    (2, 5, 40, 32, 50, 37, 3),       # K not a multiple of the row block, merge of 3 splits
    (3, 17, 48, 32, 20, 16, None),   # H over one head block
    (2, 3, 32, 32, 9, 20, 2),        # no RoPE part (dv == Dqk)
    (1, 2, 17, 1, 6, 4, None),       # dv = 1
])
def test_sparse_mla_decode(b, h, dqk, dv, n, k, splits):
    q, kv, idx = _case(b, h, dqk, n, k, seed=b * 7 + k)
    idx[0, ::3] = -1
    scale = 1 / math.sqrt(dqk)
    out, lse = sparse_mla_decode_triton(q, kv, idx, scale, dv, num_splits=splits)
    ro, rl = sparse_mla_decode_ref(q, kv, idx, scale, dv)
    assert out.shape == (b, h, dv) and lse.shape == (b, h) and lse.dtype == torch.float32
    torch.testing.assert_close(out, ro, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(lse, rl, rtol=1e-5, atol=1e-5)


def test_sparse_mla_decode_invalid_rows_and_empty_splits():
    q, kv, idx = _case(3, 4, 40, 30, 40, seed=3)
    idx[0] = -1               # nothing to attend: out 0, lse -inf
    idx[1, 16:] = -1          # later splits see only invalid rows
    idx[2, 5] = 30            # out of range counts as invalid
    for splits in (None, 3):
        out, lse = sparse_mla_decode_triton(q, kv, idx, 0.2, 32, num_splits=splits)
        ro, rl = sparse_mla_decode_ref(q, kv, idx, 0.2, 32)
        assert torch.equal(out[0], torch.zeros_like(out[0])) and torch.isneginf(lse[0]).all()
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, ro, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(lse, rl, rtol=1e-5, atol=1e-5)


def test_sparse_mla_decode_bf16_deepseek_widths():
    """Dqk = 576, dv = 512 as in DeepSeek-V3.2 (small B, H, K)."""
    q, kv, idx = _case(1, 2, 576, 40, 24, seed=4, dtype=torch.bfloat16)
    idx[0, -3:] = -1
    out, lse = sparse_mla_decode_triton(q, kv, idx, 576 ** -0.5, 512, num_splits=2)
    ro, rl = sparse_mla_decode_ref(q, kv, idx, 576 ** -0.5, 512)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ro.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(lse, rl, rtol=1e-4, atol=1e-4)


def test_sparse_mla_decode_ref_equals_sdpa_on_gathered_rows():
    q, kv, idx = _case(2, 3, 24, 12, 7, seed=5)
    out, lse = sparse_mla_decode_ref(q, kv, idx, 0.3, 16)
    rows = kv[idx.long()]                                   # [B, K, Dqk], shared by the heads (MQA)
    want = F.scaled_dot_product_attention(q[:, None], rows[:, None], rows[:, None, :, :16], scale=0.3)[:, 0]
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lse, torch.logsumexp(0.3 * torch.einsum("bhd,bkd->bhk", q, rows), -1))


def _moe_case(t, hd, inter, e, k, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(t, hd, generator=g).to(dtype)
    w13 = (torch.randn(e, 2 * inter, hd, generator=g) / math.sqrt(hd)).to(dtype)
    w2 = (torch.randn(e, hd, inter, generator=g) / math.sqrt(inter)).to(dtype)
    ids = torch.stack([torch.randperm(e, generator=g)[:k] for _ in range(t)]) if t else torch.zeros(0, k).long()
    wts = torch.rand(t, k, generator=g)
    return x, w13, w2, ids, wts


@pytest.mark.parametrize("tma", [False, True])
@pytest.mark.parametrize("t,hd,inter,e,k", [(1, 16, 8, 4, 2), (7, 40, 24, 6, 3), (20, 33, 17, 3, 1),
                                            (5, 64, 48, 8, 8), (6, 48, 20, 3, 2)])
def test_fused_moe(t, hd, inter, e, k, tma):
    """tma=True reads weights by descriptor where rows are 16-byte aligned (not for hd=33 or inter=17)."""
    x, w13, w2, ids, wts = _moe_case(t, hd, inter, e, k, seed=t + e)
    got = fused_moe_triton(x, w13, w2, ids, wts, use_tma=tma)
    want = fused_moe_ref(x, w13, w2, ids, wts)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_fused_moe_bf16_and_skewed_routing():
    x, w13, w2, ids, wts = _moe_case(9, 32, 16, 5, 2, seed=1, dtype=torch.bfloat16)
    ids[:, 0] = 4  # every token picks expert 4, experts 0..3 share the rest
    ids[:, 1] = torch.arange(9) % 4
    got = fused_moe_triton(x, w13, w2, ids, wts, use_tma=True)
    want = fused_moe_ref(x, w13, w2, ids, wts)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want.float(), rtol=2e-2, atol=2e-2)


def test_fused_moe_empty_batch():
    x, w13, w2, ids, wts = _moe_case(0, 16, 8, 4, 2, seed=2)
    assert fused_moe_triton(x, w13, w2, ids, wts).shape == (0, 16)


def test_fused_moe_ref_equals_dense_experts():
    x, w13, w2, ids, wts = _moe_case(4, 8, 6, 3, 2, seed=3, dtype=torch.float64)
    want = torch.zeros_like(x)
    for t in range(4):
        for j in range(2):
            e = ids[t, j]
            g, u = (w13[e] @ x[t]).chunk(2)
            want[t] += wts[t, j].double() * (w2[e] @ (F.silu(g) * u))
    torch.testing.assert_close(fused_moe_ref(x, w13, w2, ids, wts), want)


def test_align_by_expert():
    ids = torch.tensor([[2, 0], [2, 1], [0, 2]])
    pairs, bexp = align_by_expert(ids, 4, 4)
    n = ids.numel()
    assert pairs.numel() % 4 == 0 and pairs.numel() >= 12
    runs = pairs.view(-1, 4)
    for blk, e in zip(runs.tolist(), bexp.tolist()):
        real = [p for p in blk if p < n]
        if e < 0:
            assert not real
        assert all(ids.view(-1)[p].item() == e for p in real)
    assert sorted(p for p in pairs.tolist() if p < n) == list(range(n))


def test_paged_rows_and_decode_from_a_paged_cache():
    from kernels.paged_rows import paged_rows_ref, paged_rows_triton

    bs, d = 4, 24
    table = torch.tensor([[5, 2, 7, -1], [0, 1, 3, 4]], dtype=torch.int32)
    pos = torch.tensor([[0, 3, 4, 9, -1, 12, 20, 11], [15, 2, -1, 5, 8, 16, 1, 0]], dtype=torch.int32)
    want = torch.tensor([[20, 23, 8, 29, -1, -1, -1, 31], [19, 2, -1, 5, 12, -1, 1, 0]], dtype=torch.int32)
    assert torch.equal(paged_rows_ref(pos, table, bs), want)
    assert torch.equal(paged_rows_triton(pos, table, bs), want)
    # attention over the paged rows equals attention over the same tokens laid out contiguously
    g = torch.Generator().manual_seed(8)
    cache = torch.randn(8 * bs, d, generator=g)
    q = torch.randn(2, 3, d, generator=g)
    contiguous = torch.stack([cache.view(8, bs, d)[table[b].clamp_min(0).long()].reshape(-1, d) for b in range(2)])
    valid = want >= 0
    out, lse = sparse_mla_decode_triton(q, cache, want, 0.2, 16)
    for b in range(2):
        idx_b = torch.where(valid[b], pos[b], -1)[None].int()
        ro, rl = sparse_mla_decode_ref(q[b:b + 1], contiguous[b], idx_b, 0.2, 16)
        torch.testing.assert_close(out[b:b + 1], ro, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(lse[b:b + 1], rl, rtol=1e-5, atol=1e-5)
