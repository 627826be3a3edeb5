"""Lightning-indexer scores: I[t, s] = sum_h w[t, h] * relu(q[t, h] . k[s]) for starts[t] <= s < ends[t].

Positions outside a row's [start, end) are -inf, so a top-k over the row only sees the keys that row may attend.
The FP8 variant takes e4m3 q and k plus one scale per key (k_scale[S]); the q scale is expected to be folded into
the weights by the caller, and since scales are positive, relu(q . k * k_scale) = relu(q . k) * k_scale.

The kernel tiles BLOCK_T tokens x all heads against BLOCK_S keys: one dot of [BLOCK_T*H, D] x [D, BLOCK_S] per
tile, so each key tile is read once per BLOCK_T tokens; tiles that no token of the block may see only store -inf.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._tl import interpreted, mma


def _mask_rows(logits: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    s = torch.arange(logits.shape[1], device=logits.device)
    ok = (s[None, :] >= starts[:, None].long()) & (s[None, :] < ends[:, None].long())
    return logits.masked_fill(~ok, float("-inf"))


def indexer_logits_ref(q: torch.Tensor, k: torch.Tensor, weights: torch.Tensor, starts: torch.Tensor,
                       ends: torch.Tensor) -> torch.Tensor:
    scores = torch.einsum("thd,sd->ths", q.float(), k.float()).relu_()
    logits = torch.einsum("ths,th->ts", scores, weights.float())
    return _mask_rows(logits, starts, ends)


def indexer_logits_fp8_ref(q_fp8: torch.Tensor, k_fp8: torch.Tensor, k_scale: torch.Tensor, weights: torch.Tensor,
                           starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    scores = torch.einsum("thd,sd->ths", q_fp8.float(), k_fp8.float()).relu_()
    logits = torch.einsum("ths,th->ts", scores, weights.float()) * k_scale.float()[None, :]
    return _mask_rows(logits, starts, ends)


@triton.jit
def _indexer_kernel(q_ptr, k_ptr, ks_ptr, w_ptr, st_ptr, en_ptr, o_ptr, T, S, H, D,
                    stride_qt, stride_qh, stride_ks, stride_wt, stride_ot,
                    BLOCK_T: tl.constexpr, BLOCK_S: tl.constexpr, H_PAD: tl.constexpr, D_PAD: tl.constexpr,
                    HAS_KSCALE: tl.constexpr, INTERPRETED: tl.constexpr):
    pid_t = tl.program_id(0)
    pid_s = tl.program_id(1)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_s = pid_s * BLOCK_S + tl.arange(0, BLOCK_S)
    tmask = offs_t < T
    smask = offs_s < S
    st = tl.load(st_ptr + offs_t, mask=tmask, other=0)
    en = tl.load(en_ptr + offs_t, mask=tmask, other=0)
    visible = (offs_s[None, :] >= st[:, None]) & (offs_s[None, :] < en[:, None])
    out_ptrs = o_ptr + offs_t[:, None] * stride_ot + offs_s[None, :]
    out_mask = tmask[:, None] & smask[None, :]
    tile_lo = pid_s * BLOCK_S
    lo = tl.min(tl.where(tmask, st, S), axis=0)
    hi = tl.max(tl.where(tmask, en, 0), axis=0)
    if (hi <= tile_lo) | (lo >= tile_lo + BLOCK_S):
        tl.store(out_ptrs, tl.full((BLOCK_T, BLOCK_S), float("-inf"), tl.float32), mask=out_mask)
    else:
        # rows of the query tile are (token, head) pairs, flattened
        r = tl.arange(0, BLOCK_T * H_PAD)
        rt = pid_t * BLOCK_T + r // H_PAD
        rh = r % H_PAD
        rmask = (rt < T) & (rh < H)
        offs_d = tl.arange(0, D_PAD)
        dmask = offs_d < D
        q = tl.load(q_ptr + rt[:, None] * stride_qt + rh[:, None] * stride_qh + offs_d[None, :],
                    mask=rmask[:, None] & dmask[None, :], other=0.0)
        k = tl.load(k_ptr + offs_s[None, :] * stride_ks + offs_d[:, None],
                    mask=dmask[:, None] & smask[None, :], other=0.0)
        scores = mma(q, k, tl.zeros((BLOCK_T * H_PAD, BLOCK_S), dtype=tl.float32), INTERPRETED)
        w = tl.load(w_ptr + rt * stride_wt + rh, mask=rmask, other=0.0).to(tl.float32)
        scores = tl.maximum(scores, 0.0) * w[:, None]
        logits = tl.sum(tl.reshape(scores, (BLOCK_T, H_PAD, BLOCK_S)), axis=1)
        if HAS_KSCALE:
            ks = tl.load(ks_ptr + offs_s, mask=smask, other=0.0)
            logits = logits * ks[None, :]
        logits = tl.where(visible, logits, float("-inf"))
        tl.store(out_ptrs, logits, mask=out_mask)


def _launch(q, k, k_scale, weights, starts, ends):
    t, h, d = q.shape
    s = k.shape[0]
    out = torch.empty((t, s), dtype=torch.float32, device=q.device)
    if t == 0 or s == 0:
        return out
    if q.stride(-1) != 1:
        q = q.contiguous()
    if k.stride(-1) != 1:
        k = k.contiguous()
    weights = weights.contiguous()
    starts = starts.to(torch.int32).contiguous()
    ends = ends.to(torch.int32).contiguous()
    h_pad = triton.next_power_of_2(h)
    d_pad = max(32, triton.next_power_of_2(d))  # fp8 dots want K >= 32
    if q.is_cuda:
        block_t = max(1, 128 // h_pad)   # 128 query rows per dot
        block_s = 64 if d_pad <= 128 else 32
        num_warps = 8 if block_t * h_pad >= 128 else 4
    else:
        block_t = max(1, min(triton.next_power_of_2(t), 16 // h_pad))
        block_s = 32
        num_warps = 4
    block_t = max(block_t, max(1, 16 // h_pad))  # dot needs >= 16 rows
    grid = (triton.cdiv(t, block_t), triton.cdiv(s, block_s))
    _indexer_kernel[grid](q, k, k_scale if k_scale is not None else weights, weights, starts, ends, out,
                          t, s, h, d, q.stride(0), q.stride(1), k.stride(0), weights.stride(0), out.stride(0),
                          BLOCK_T=block_t, BLOCK_S=block_s, H_PAD=h_pad, D_PAD=d_pad,
                          HAS_KSCALE=k_scale is not None, INTERPRETED=interpreted(q),
                          num_warps=num_warps)
    return out


def indexer_logits_triton(q: torch.Tensor, k: torch.Tensor, weights: torch.Tensor, starts: torch.Tensor,
                          ends: torch.Tensor) -> torch.Tensor:
    return _launch(q, k, None, weights, starts, ends)


def indexer_logits_fp8_triton(q_fp8: torch.Tensor, k_fp8: torch.Tensor, k_scale: torch.Tensor,
                              weights: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    return _launch(q_fp8, k_fp8, k_scale.float().contiguous(), weights, starts, ends)
