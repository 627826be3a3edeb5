"""Top-k selection over score rows: the indices of the k largest finite scores of each row, -1 padded.

Output order is fixed so both paths agree bit for bit: the selected indices in ascending index order, then -1 for
the missing ones (rows with fewer than k finite scores, or k > S). Among equal scores at the cut, lower indices
win. Attention over the selected keys does not depend on their order.

The kernel is a radix select, one program per row: scores are mapped to order-preserving uint32 keys (non-finite
scores to key 0, never selected); 32 counting passes, one per bit, find the key of the k-th largest score; a last
pass writes the indices above the cut (and the first ties at it) with a prefix sum. Passes read the row from
L2/registers and need no sort and no scratch memory.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


def topk_indices_ref(scores: torch.Tensor, k: int) -> torch.Tensor:
    t, s = scores.shape
    out = torch.full((t, k), -1, dtype=torch.int32, device=scores.device)
    kk = min(k, s)
    if t == 0 or kk == 0:
        return out
    x = scores.float()
    finite = torch.isfinite(x)
    vals, idx = torch.sort(x.masked_fill(~finite, float("-inf")), dim=1, descending=True, stable=True)
    keep = torch.isfinite(vals[:, :kk])
    idx = idx[:, :kk].masked_fill(~keep, s)  # s sorts after every real index
    idx, _ = torch.sort(idx, dim=1)
    out[:, :kk] = idx.masked_fill(idx == s, -1).to(torch.int32)
    return out


@triton.jit
def _keys(x):
    """fp32 -> uint32 (in int64 lanes) whose unsigned order is the float order; non-finite -> 0; -0 is +0."""
    x = tl.where(x == 0.0, 0.0, x)
    bits = x.to(tl.int32, bitcast=True)
    flip = (bits >> 31) | (-2147483648)  # all ones for negatives, only the sign bit for positives
    key = (bits ^ flip).to(tl.int64) & 0xFFFFFFFF
    finite = (x == x) & (tl.abs(x) < float("inf"))
    return tl.where(finite, key, 0)


@triton.jit
def _topk_kernel(x_ptr, o_ptr, S, K, stride_x, stride_o, BLOCK_S: tl.constexpr, ONE_TILE: tl.constexpr):
    row = tl.program_id(0)
    x_row = x_ptr + row * stride_x
    o_row = o_ptr + row * stride_o
    offs = tl.arange(0, BLOCK_S)
    if ONE_TILE:
        keys = _keys(tl.load(x_row + offs, mask=offs < S, other=float("-inf")).to(tl.float32))
        n_valid = tl.sum((keys > 0).to(tl.int32), axis=0)
    else:
        n_valid = tl.zeros((), dtype=tl.int32)
        for s0 in range(0, S, BLOCK_S):
            kt = _keys(tl.load(x_row + s0 + offs, mask=s0 + offs < S, other=float("-inf")).to(tl.float32))
            n_valid += tl.sum((kt > 0).to(tl.int32), axis=0)
    kk = tl.minimum(n_valid, K)
    # cut = the largest key with at least kk keys >= it, built one bit at a time from the top
    cut = tl.zeros((), dtype=tl.int64)
    for i in range(32):
        cand = cut | (tl.full((), 1, tl.int64) << (31 - i))
        if ONE_TILE:
            cnt = tl.sum((keys >= cand).to(tl.int32), axis=0)
        else:
            cnt = tl.zeros((), dtype=tl.int32)
            for s0 in range(0, S, BLOCK_S):
                kt = _keys(tl.load(x_row + s0 + offs, mask=s0 + offs < S, other=float("-inf")).to(tl.float32))
                cnt += tl.sum((kt >= cand).to(tl.int32), axis=0)
        cut = tl.where(cnt >= kk, cand, cut)
    # write: every key above the cut, then ties at the cut in index order until kk are written
    if ONE_TILE:
        n_above = tl.sum((keys > cut).to(tl.int32), axis=0)
        ties = (keys == cut) & (keys > 0)
        tie_rank = tl.cumsum(ties.to(tl.int32), axis=0) - 1
        sel = (keys > cut) | (ties & (tie_rank < kk - n_above))  # kk == 0 leaves cut above every key
        pos = tl.cumsum(sel.to(tl.int32), axis=0) - 1
        tl.store(o_row + pos, offs, mask=sel & (pos < K))
    else:
        n_above = tl.zeros((), dtype=tl.int32)
        for s0 in range(0, S, BLOCK_S):
            kt = _keys(tl.load(x_row + s0 + offs, mask=s0 + offs < S, other=float("-inf")).to(tl.float32))
            n_above += tl.sum((kt > cut).to(tl.int32), axis=0)
        need_ties = kk - n_above
        ties_seen = tl.zeros((), dtype=tl.int32)
        written = tl.zeros((), dtype=tl.int32)
        for s0 in range(0, S, BLOCK_S):
            kt = _keys(tl.load(x_row + s0 + offs, mask=s0 + offs < S, other=float("-inf")).to(tl.float32))
            ties = (kt == cut) & (kt > 0)
            tie_rank = ties_seen + tl.cumsum(ties.to(tl.int32), axis=0) - 1
            sel = (kt > cut) | (ties & (tie_rank < need_ties))
            pos = written + tl.cumsum(sel.to(tl.int32), axis=0) - 1
            tl.store(o_row + pos, s0 + offs, mask=sel & (pos < K))
            ties_seen += tl.sum(ties.to(tl.int32), axis=0)
            written += tl.sum(sel.to(tl.int32), axis=0)
    # pad the rest with -1
    for k0 in range(0, K, BLOCK_S):
        ko = k0 + offs
        tl.store(o_row + ko, tl.full((BLOCK_S,), -1, tl.int32), mask=(ko >= kk) & (ko < K))


def topk_indices_triton(scores: torch.Tensor, k: int) -> torch.Tensor:
    t, s = scores.shape
    out = torch.empty((t, k), dtype=torch.int32, device=scores.device)
    if t == 0 or k == 0:
        return out
    if scores.stride(-1) != 1:
        scores = scores.contiguous()
    one_tile_max = 8192 if scores.is_cuda else 1024
    block = max(16, triton.next_power_of_2(max(s, 1)))
    one_tile = block <= one_tile_max
    if not one_tile:
        block = 2048 if scores.is_cuda else 256
    num_warps = 4 if block <= 1024 else (8 if block <= 4096 else 16)
    _topk_kernel[(t,)](scores, out, s, k, scores.stride(0), out.stride(0), BLOCK_S=block, ONE_TILE=one_tile,
                       num_warps=num_warps)
    return out
