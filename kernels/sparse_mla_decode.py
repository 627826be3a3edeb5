"""Sparse MLA decode: each query attends only to the latent rows its indexer selected (FlashMLA's sparse semantics).

q[B, H, Dqk] (absorbed MLA queries: the first dv columns against the compressed latent, the rest against the
shared RoPE key), kv[N, Dqk] (one cache row per token: latent then RoPE key), indices[B, K] int32 row numbers
(-1 = no key; any index outside [0, N) is skipped the same way). Keys are whole rows, values their first dv columns.
Returns out[B, H, dv] in q's dtype and lse[B, H] fp32 = log(sum_j exp(sm_scale * q . kv[j])) over the valid keys
(natural log); a query with no valid key gets out = 0 and lse = -inf.

All heads of a query share its gathered rows, so a program takes BLOCK_H heads of one query and streams its rows
in BLOCK_N chunks with an online softmax (exp2 domain); the head-block axis is the fastest grid axis so the programs
re-reading the same rows run side by side and hit L2. When B * H / BLOCK_H is too small to fill the GPU, the K
rows are cut into splits whose partial outputs and log-sum-exps are merged by a second kernel.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._tl import cast, interpreted, mma

LOG2E = 1.4426950408889634


def sparse_mla_decode_ref(q: torch.Tensor, kv: torch.Tensor, indices: torch.Tensor, sm_scale: float,
                          dv: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = kv.shape[0]
    idx = indices.long()
    valid = (idx >= 0) & (idx < n)
    rows = kv[idx.clamp(0, max(n - 1, 0))].float() if n else kv.new_zeros((*idx.shape, kv.shape[1])).float()
    scores = torch.einsum("bhd,bkd->bhk", q.float(), rows) * sm_scale
    scores = scores.masked_fill(~valid[:, None, :], float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    p = torch.exp(scores - lse.masked_fill(torch.isinf(lse), 0.0)[..., None])
    out = torch.einsum("bhk,bkd->bhd", p, rows[..., :dv])
    return out.to(q.dtype), lse


@triton.jit
def _sparse_mla_kernel(q_ptr, kv_ptr, idx_ptr, o_ptr, lse_ptr, H, N, DV, DR, K_PER_SPLIT, K, scale_log2,
                       stride_qb, stride_qh, stride_kv, stride_ib,
                       stride_ob, stride_oh, stride_os, stride_lb, stride_lh,
                       BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr, DV_PAD: tl.constexpr, DR_PAD: tl.constexpr,
                       HAS_ROPE: tl.constexpr, PARTIAL: tl.constexpr,
                       INTERPRETED: tl.constexpr):
    pid_h = tl.program_id(0)
    split = tl.program_id(1)
    b = tl.program_id(2)
    offs_h = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)
    hmask = offs_h < H
    offs_v = tl.arange(0, DV_PAD)
    vmask = offs_v < DV
    q_rows = q_ptr + b * stride_qb + offs_h[:, None] * stride_qh
    q_v = tl.load(q_rows + offs_v[None, :], mask=hmask[:, None] & vmask[None, :], other=0.0)
    if HAS_ROPE:
        offs_r = tl.arange(0, DR_PAD)
        rmask = offs_r < DR
        q_r = tl.load(q_rows + DV + offs_r[None, :], mask=hmask[:, None] & rmask[None, :], other=0.0)

    m = tl.full((BLOCK_H,), float("-inf"), tl.float32)
    l_sum = tl.zeros((BLOCK_H,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_H, DV_PAD), dtype=tl.float32)
    k_lo = split * K_PER_SPLIT
    k_hi = tl.minimum(k_lo + K_PER_SPLIT, K)
    for n0 in range(k_lo, k_hi, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        idx = tl.load(idx_ptr + b * stride_ib + offs_n, mask=offs_n < k_hi, other=-1)
        valid = (idx >= 0) & (idx < N)
        row = kv_ptr + idx.to(tl.int64) * stride_kv
        kv_v = tl.load(row[:, None] + offs_v[None, :], mask=valid[:, None] & vmask[None, :], other=0.0)
        s = mma(q_v, tl.trans(kv_v), tl.zeros((BLOCK_H, BLOCK_N), dtype=tl.float32), INTERPRETED)
        if HAS_ROPE:
            kv_r = tl.load(row[:, None] + DV + offs_r[None, :], mask=valid[:, None] & rmask[None, :], other=0.0)
            s = mma(q_r, tl.trans(kv_r), s, INTERPRETED)
        s = tl.where(valid[None, :], s * scale_log2, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_sum = l_sum * alpha + tl.sum(p, axis=1)
        acc = mma(cast(p, kv_v.dtype, INTERPRETED), kv_v, acc * alpha[:, None], INTERPRETED)
        m = m_new

    empty = l_sum == 0.0
    out = acc / tl.where(empty, 1.0, l_sum)[:, None]
    lse2 = tl.where(empty, float("-inf"), m + tl.log2(tl.where(empty, 1.0, l_sum)))
    o_ptrs = o_ptr + b * stride_ob + offs_h[:, None] * stride_oh + split * stride_os + offs_v[None, :]
    if PARTIAL:  # fp32 partials, base-2 lse, merged by _merge_kernel
        tl.store(o_ptrs, out, mask=hmask[:, None] & vmask[None, :])
        tl.store(lse_ptr + b * stride_lb + offs_h * stride_lh + split, lse2, mask=hmask)
    else:
        tl.store(o_ptrs, cast(out, o_ptr.dtype.element_ty, INTERPRETED), mask=hmask[:, None] & vmask[None, :])
        tl.store(lse_ptr + b * stride_lb + offs_h * stride_lh, lse2 * 0.6931471805599453, mask=hmask)


@triton.jit
def _merge_kernel(po_ptr, pl_ptr, o_ptr, lse_ptr, H, DV, SPLITS,
                  stride_pb, stride_ph, stride_ps, stride_plb, stride_plh, stride_ob, stride_oh, stride_lb,
                  SPLITS_PAD: tl.constexpr, BLOCK_V: tl.constexpr, INTERPRETED: tl.constexpr):
    h = tl.program_id(0)
    b = tl.program_id(1)
    pid_v = tl.program_id(2)
    offs_s = tl.arange(0, SPLITS_PAD)
    smask = offs_s < SPLITS
    lse2 = tl.load(pl_ptr + b * stride_plb + h * stride_plh + offs_s, mask=smask, other=float("-inf"))
    mx = tl.max(lse2, axis=0)
    mx_safe = tl.where(mx == float("-inf"), 0.0, mx)
    w = tl.exp2(lse2 - mx_safe)
    total = tl.sum(w, axis=0)
    empty = total == 0.0
    w = w / tl.where(empty, 1.0, total)
    offs_v = pid_v * BLOCK_V + tl.arange(0, BLOCK_V)
    vmask = offs_v < DV
    part = tl.load(po_ptr + b * stride_pb + h * stride_ph + offs_s[:, None] * stride_ps + offs_v[None, :],
                   mask=smask[:, None] & vmask[None, :], other=0.0)
    out = tl.sum(part * w[:, None], axis=0)
    tl.store(o_ptr + b * stride_ob + h * stride_oh + offs_v, cast(out, o_ptr.dtype.element_ty, INTERPRETED), mask=vmask)
    if pid_v == 0:
        lse = tl.where(empty, float("-inf"), (mx_safe + tl.log2(tl.where(empty, 1.0, total))) * 0.6931471805599453)
        tl.store(lse_ptr + b * stride_lb + h, lse)


def _num_splits(b: int, h_blocks: int, k: int, block_n: int, sm_count: int) -> int:
    """Split K only when the (query, head block) programs cannot fill the GPU: the fp32 partials cost traffic.

    Then aim at about two programs per SM, each split keeping at least 4 row chunks.
    """
    base = b * h_blocks
    if base >= sm_count:
        return 1
    want = -(-2 * sm_count // max(base, 1))
    most = max(1, k // (4 * block_n))
    return max(1, min(want, most))


def sparse_mla_decode_triton(q: torch.Tensor, kv: torch.Tensor, indices: torch.Tensor, sm_scale: float, dv: int,
                             num_splits: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """num_splits forces the split count (tests use it to exercise the merge); None picks one from the GPU size."""
    b, h, dqk = q.shape
    n = kv.shape[0]
    k = indices.shape[1]
    out = torch.empty((b, h, dv), dtype=q.dtype, device=q.device)
    lse = torch.empty((b, h), dtype=torch.float32, device=q.device)
    if b == 0 or h == 0:
        return out, lse
    if q.stride(-1) != 1:
        q = q.contiguous()
    if kv.stride(-1) != 1:
        kv = kv.contiguous()
    indices = indices.to(torch.int32).contiguous()
    dr = dqk - dv
    dv_pad = max(16, triton.next_power_of_2(dv))
    dr_pad = max(16, triton.next_power_of_2(max(dr, 1)))
    if q.is_cuda:
        block_h, block_n, warps, stages = min(32, max(16, triton.next_power_of_2(h))), 32, 8, 2
        sm_count = torch.cuda.get_device_properties(q.device).multi_processor_count
    else:
        block_h, block_n, warps, stages = 16, 16, 4, 1
        sm_count = 1
    h_blocks = triton.cdiv(h, block_h)
    splits = num_splits if num_splits is not None else _num_splits(b, h_blocks, k, block_n, sm_count)
    splits = max(1, min(splits, max(1, triton.cdiv(k, block_n))))
    k_per_split = triton.cdiv(triton.cdiv(max(k, 1), splits), block_n) * block_n
    splits = triton.cdiv(max(k, 1), k_per_split)
    scale_log2 = float(sm_scale) * LOG2E
    common = dict(BLOCK_H=block_h, BLOCK_N=block_n, DV_PAD=dv_pad, DR_PAD=dr_pad, HAS_ROPE=dr > 0,
                  INTERPRETED=interpreted(q), num_warps=warps, num_stages=stages)
    grid = (h_blocks, splits, b)
    if splits == 1:
        _sparse_mla_kernel[grid](q, kv, indices, out, lse, h, n, dv, dr, k_per_split, k, scale_log2,
                                 q.stride(0), q.stride(1), kv.stride(0), indices.stride(0),
                                 out.stride(0), out.stride(1), 0, lse.stride(0), lse.stride(1),
                                 PARTIAL=False, **common)
        return out, lse
    part_o = torch.empty((b, h, splits, dv), dtype=torch.float32, device=q.device)
    part_l = torch.empty((b, h, splits), dtype=torch.float32, device=q.device)
    _sparse_mla_kernel[grid](q, kv, indices, part_o, part_l, h, n, dv, dr, k_per_split, k, scale_log2,
                             q.stride(0), q.stride(1), kv.stride(0), indices.stride(0),
                             part_o.stride(0), part_o.stride(1), part_o.stride(2), part_l.stride(0), part_l.stride(1),
                             PARTIAL=True, **common)
    block_v = min(dv_pad, 512 if q.is_cuda else 64)
    _merge_kernel[(h, b, triton.cdiv(dv, block_v))](
        part_o, part_l, out, lse, h, dv, splits,
        part_o.stride(0), part_o.stride(1), part_o.stride(2), part_l.stride(0), part_l.stride(1),
        out.stride(0), out.stride(1), lse.stride(0),
        SPLITS_PAD=max(2, triton.next_power_of_2(splits)), BLOCK_V=block_v, INTERPRETED=interpreted(q))
    return out, lse
