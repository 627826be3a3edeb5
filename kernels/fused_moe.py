"""Mixture-of-experts FFN: out[t] = sum_j topk_weights[t, j] * expert_{topk_ids[t, j]}(x[t]), SwiGLU experts.

Expert e computes w2[e] @ (silu(w1[e] x) * (w3[e] x)), with w13[e] = [w1[e]; w3[e]] stacked along rows
(w13[E, 2I, Hd], w2[E, Hd, I]). The intermediate activation is rounded to x's dtype, as an unfused bf16 model does.

Grouped by expert: the (token, slot) pairs are sorted by expert and each expert's group is padded to a multiple
of BLOCK_M, so every row tile of the two grouped GEMMs belongs to one expert and reads that expert's weights once
per tile. Kernel 1 computes gate and up projections for a tile together and applies silu(g) * u in registers;
kernel 2 multiplies by w2 and the routing weight and writes one row per pair; the k rows of a token are summed at
the end (no atomics, so the result is deterministic). Sorting and padding use only tensor ops (no host sync).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from kernels._tl import cast, interpreted, mma


def fused_moe_ref(x: torch.Tensor, w13: torch.Tensor, w2: torch.Tensor, topk_ids: torch.Tensor,
                  topk_weights: torch.Tensor) -> torch.Tensor:
    t, hd = x.shape
    inter = w2.shape[2]
    acc = torch.promote_types(x.dtype, torch.float32)
    out = torch.zeros((t, hd), dtype=acc, device=x.device)
    for e in torch.unique(topk_ids).tolist():
        tok, slot = (topk_ids == e).nonzero(as_tuple=True)
        gu = x[tok].to(acc) @ w13[e].to(acc).t()
        h = (F.silu(gu[:, :inter]) * gu[:, inter:]).to(x.dtype).to(acc)
        y = (h @ w2[e].to(acc).t()) * topk_weights[tok, slot].to(acc)[:, None]
        out.index_add_(0, tok, y)
    return out.to(x.dtype)


def align_by_expert(topk_ids: torch.Tensor, num_experts: int, block_m: int):
    """Sort (token, slot) pairs by expert, padding each expert's run to a multiple of block_m.

    Returns (pair_ids[L], block_expert[L // block_m]): pair p = token * k + slot, padding slots hold T * k; a block
    past the last expert's run has expert -1. L is an upper bound, so nothing waits for the GPU.
    """
    flat = topk_ids.reshape(-1).long()
    n_pairs = flat.numel()
    counts = torch.bincount(flat, minlength=num_experts)
    padded = (counts + block_m - 1) // block_m * block_m
    pad_end = torch.cumsum(padded, 0)
    sorted_end = torch.cumsum(counts, 0)
    order = torch.argsort(flat, stable=True)
    e_sorted = flat[order]
    rank = torch.arange(n_pairs, device=flat.device) - (sorted_end - counts)[e_sorted]
    dest = (pad_end - padded)[e_sorted] + rank
    length = triton.cdiv(n_pairs + num_experts * (block_m - 1), block_m) * block_m
    pair_ids = torch.full((length,), n_pairs, dtype=torch.int32, device=flat.device)
    pair_ids[dest] = order.to(torch.int32)
    starts = torch.arange(0, length, block_m, device=flat.device)
    block_expert = torch.searchsorted(pad_end, starts, right=True)
    block_expert = torch.where(block_expert < num_experts, block_expert, -1).to(torch.int32)
    return pair_ids, block_expert


@triton.jit
def _gate_up_kernel(x_ptr, w_ptr, w_desc, h_ptr, pair_ptr, bexp_ptr, n_pairs, TOPK, HD, INTER,
                    stride_xt, stride_we, stride_wn, stride_hm,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                    USE_TMA: tl.constexpr, INTERPRETED: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    e = tl.load(bexp_ptr + pid_m)
    if e >= 0:
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        pair = tl.load(pair_ptr + offs_m)
        pmask = pair < n_pairs
        tok = pair // TOPK
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        nmask = offs_n < INTER
        offs_k = tl.arange(0, BLOCK_K)
        x_ptrs = x_ptr + tok[:, None].to(tl.int64) * stride_xt + offs_k[None, :]
        w_base = w_ptr + e.to(tl.int64) * stride_we
        g_ptrs = w_base + offs_n[None, :] * stride_wn + offs_k[:, None]
        u_ptrs = w_base + (offs_n + INTER)[None, :] * stride_wn + offs_k[:, None]
        acc_g = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        acc_u = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, HD, BLOCK_K):
            kmask = offs_k < HD - k0
            xt = tl.load(x_ptrs, mask=pmask[:, None] & kmask[None, :], other=0.0)
            if USE_TMA:  # w13 seen as [E * 2I, Hd]; rows past this expert's half only feed masked columns
                row = e * 2 * INTER + pid_n * BLOCK_N
                g = w_desc.load([row, k0]).T
                u = w_desc.load([row + INTER, k0]).T
            else:
                g = tl.load(g_ptrs, mask=kmask[:, None] & nmask[None, :], other=0.0)
                u = tl.load(u_ptrs, mask=kmask[:, None] & nmask[None, :], other=0.0)
            acc_g = mma(xt, g, acc_g, INTERPRETED)
            acc_u = mma(xt, u, acc_u, INTERPRETED)
            x_ptrs += BLOCK_K
            g_ptrs += BLOCK_K
            u_ptrs += BLOCK_K
        h = acc_g / (1.0 + tl.exp(-acc_g)) * acc_u
        tl.store(h_ptr + offs_m[:, None] * stride_hm + offs_n[None, :], cast(h, h_ptr.dtype.element_ty, INTERPRETED),
                 mask=pmask[:, None] & nmask[None, :])


@triton.jit
def _down_kernel(h_ptr, h_desc, w_ptr, w_desc, o_ptr, pair_ptr, bexp_ptr, rw_ptr, n_pairs, HD, INTER,
                 stride_hm, stride_we, stride_wn, stride_om,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                 USE_TMA: tl.constexpr, INTERPRETED: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    e = tl.load(bexp_ptr + pid_m)
    if e >= 0:
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        pair = tl.load(pair_ptr + offs_m)
        pmask = pair < n_pairs
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        nmask = offs_n < HD
        offs_k = tl.arange(0, BLOCK_K)
        h_ptrs = h_ptr + offs_m[:, None] * stride_hm + offs_k[None, :]
        w_ptrs = w_ptr + e.to(tl.int64) * stride_we + offs_n[None, :] * stride_wn + offs_k[:, None]
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, INTER, BLOCK_K):
            kmask = offs_k < INTER - k0
            if USE_TMA:  # h rows of a tile are contiguous; w2 seen as [E * Hd, I]
                ht = tl.where(pmask[:, None], h_desc.load([pid_m * BLOCK_M, k0]), 0.0)  # padding rows: unset
                w = w_desc.load([e * HD + pid_n * BLOCK_N, k0]).T
            else:
                ht = tl.load(h_ptrs, mask=pmask[:, None] & kmask[None, :], other=0.0)
                w = tl.load(w_ptrs, mask=kmask[:, None] & nmask[None, :], other=0.0)
            acc = mma(ht, w, acc, INTERPRETED)
            h_ptrs += BLOCK_K
            w_ptrs += BLOCK_K
        rw = tl.load(rw_ptr + pair, mask=pmask, other=0.0).to(tl.float32)
        acc = acc * rw[:, None]
        tl.store(o_ptr + pair[:, None].to(tl.int64) * stride_om + offs_n[None, :], acc,
                 mask=pmask[:, None] & nmask[None, :])


def _tma_ok(t: torch.Tensor) -> bool:
    """TMA wants a contiguous tensor with 16-byte aligned rows and base."""
    return t.is_contiguous() and (t.stride(-2) * t.element_size()) % 16 == 0 and t.data_ptr() % 16 == 0


def fused_moe_triton(x: torch.Tensor, w13: torch.Tensor, w2: torch.Tensor, topk_ids: torch.Tensor,
                     topk_weights: torch.Tensor, use_tma: bool | None = None) -> torch.Tensor:
    """use_tma: fetch weight tiles (and the down projection's input rows) by TMA; default on Hopper or newer when
    the strides allow it (tests force it under the interpreter)."""
    t, hd = x.shape
    n_exp, two_i, _ = w13.shape
    inter = two_i // 2
    topk = topk_ids.shape[1]
    n_pairs = t * topk
    if n_pairs == 0:
        return torch.zeros((t, hd), dtype=x.dtype, device=x.device)
    x = x if x.stride(-1) == 1 else x.contiguous()
    w13 = w13 if w13.stride(-1) == 1 else w13.contiguous()
    w2 = w2 if w2.stride(-1) == 1 else w2.contiguous()
    rw = topk_weights.reshape(-1).float().contiguous()
    if x.is_cuda:
        block_m = 16 if n_pairs <= 64 * n_exp else 64
        bn1, bk1, bn2, bk2, warps, stages = 64, 64, 64, 64, 4, 3
    else:
        block_m, bn1, bk1, bn2, bk2, warps, stages = 16, 16, 32, 32, 32, 4, 1
    pair_ids, block_expert = align_by_expert(topk_ids, n_exp, block_m)
    length = pair_ids.numel()
    h = torch.empty((length, inter), dtype=x.dtype, device=x.device)
    if use_tma is None:
        use_tma = x.is_cuda and torch.cuda.get_device_capability(x.device)[0] >= 9
    use_tma = use_tma and _tma_ok(w13) and _tma_ok(w2) and _tma_ok(h)
    w13_desc = w2_desc = h_desc = None
    if use_tma:
        from triton.tools.tensor_descriptor import TensorDescriptor

        w13_desc = TensorDescriptor.from_tensor(w13.view(-1, hd), [bn1, bk1])
        w2_desc = TensorDescriptor.from_tensor(w2.view(-1, inter), [bn2, bk2])
        h_desc = TensorDescriptor.from_tensor(h, [block_m, bk2])
    _gate_up_kernel[(length // block_m, triton.cdiv(inter, bn1))](
        x, w13, w13_desc, h, pair_ids, block_expert, n_pairs, topk, hd, inter,
        x.stride(0), w13.stride(0), w13.stride(1), h.stride(0),
        BLOCK_M=block_m, BLOCK_N=bn1, BLOCK_K=bk1, USE_TMA=use_tma, INTERPRETED=interpreted(x), num_warps=warps,
        num_stages=stages)
    per_pair = torch.empty((n_pairs, hd), dtype=torch.float32, device=x.device)
    _down_kernel[(length // block_m, triton.cdiv(hd, bn2))](
        h, h_desc, w2, w2_desc, per_pair, pair_ids, block_expert, rw, n_pairs, hd, inter,
        h.stride(0), w2.stride(0), w2.stride(1), per_pair.stride(0),
        BLOCK_M=block_m, BLOCK_N=bn2, BLOCK_K=bk2, USE_TMA=use_tma, INTERPRETED=interpreted(x), num_warps=warps,
        num_stages=stages)
    return per_pair.view(t, topk, hd).sum(dim=1).to(x.dtype)
