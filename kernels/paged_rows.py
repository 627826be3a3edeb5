"""Paged-cache addressing: logical token positions of each sequence -> physical rows of a paged cache.

A paged cache stores sequence b's token p in block block_table[b, p // block_size] at slot p % block_size, so its
row in the cache viewed as [num_blocks * block_size, D] is block_table[b, p // block_size] * block_size +
p % block_size. paged_rows maps top-k positions [B, K] (-1 = none) to those rows, keeping -1, so sparse_mla_decode
can read the selected latents straight from the paged cache. Positions past the table (or a -1 block) give -1.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


def paged_rows_ref(positions: torch.Tensor, block_table: torch.Tensor, block_size: int) -> torch.Tensor:
    pos = positions.long()
    slot = pos.clamp_min(0) // block_size
    inside = (pos >= 0) & (slot < block_table.shape[1])
    block = torch.gather(block_table.long(), 1, slot.clamp_max(max(block_table.shape[1] - 1, 0)))
    ok = inside & (block >= 0)
    return torch.where(ok, block * block_size + pos % block_size, -1).to(torch.int32)


@triton.jit
def _paged_rows_kernel(p_ptr, bt_ptr, o_ptr, K, M, block_size, stride_pb, stride_btb, stride_ob,
                       BLOCK: tl.constexpr):
    b = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    kmask = offs < K
    pos = tl.load(p_ptr + b * stride_pb + offs, mask=kmask, other=-1)
    slot = tl.maximum(pos, 0) // block_size
    inside = (pos >= 0) & (slot < M)
    block = tl.load(bt_ptr + b * stride_btb + slot, mask=kmask & inside, other=-1)
    rows = tl.where(inside & (block >= 0), block * block_size + pos % block_size, -1)
    tl.store(o_ptr + b * stride_ob + offs, rows, mask=kmask)


def paged_rows_triton(positions: torch.Tensor, block_table: torch.Tensor, block_size: int) -> torch.Tensor:
    b, k = positions.shape
    out = torch.empty((b, k), dtype=torch.int32, device=positions.device)
    if b == 0 or k == 0:
        return out
    positions = positions.to(torch.int32).contiguous()
    block_table = block_table.to(torch.int32).contiguous()
    block = min(1024, max(16, triton.next_power_of_2(k)))
    _paged_rows_kernel[(b, triton.cdiv(k, block))](positions, block_table, out, k, block_table.shape[1], block_size,
                                                    positions.stride(0), block_table.stride(0), out.stride(0),
                                                    BLOCK=block)
    return out
