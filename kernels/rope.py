"""Rotary position embedding of the last dimension, in the two layouts DeepSeek-V3.2 uses.

x[T, H, D] (any strides; the last dimension contiguous), cos/sin[T, D/2] (the caller's per-position angles).
Pair i is rotated by angle i: interleaved pairs are (x[2i], x[2i+1]) (MLA's layout), NeoX pairs (x[i], x[i+D/2])
(the indexer's layout). (a, b) -> (a cos - b sin, a sin + b cos), in fp32, returned in x's dtype as a new tensor.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._tl import cast, interpreted


def rope_ref(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool = True) -> torch.Tensor:
    xf = x.float()
    c = cos.float()[:, None, :]
    s = sin.float()[:, None, :]
    if interleaved:
        a, b = xf[..., 0::2], xf[..., 1::2]
        out = torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)
    else:
        half = x.shape[-1] // 2
        a, b = xf[..., :half], xf[..., half:]
        out = torch.cat((a * c - b * s, a * s + b * c), dim=-1)
    return out.to(x.dtype)


@triton.jit
def _rope_kernel(x_ptr, c_ptr, s_ptr, y_ptr, H, HALF, stride_xt, stride_xh, stride_ct, stride_st,
                 stride_yt, stride_yh, BLOCK_H: tl.constexpr, BLOCK_P: tl.constexpr, INTERLEAVED: tl.constexpr,
                 INTERPRETED: tl.constexpr):
    t = tl.program_id(0)
    offs_h = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_p = tl.arange(0, BLOCK_P)
    pmask = offs_p < HALF
    mask = (offs_h < H)[:, None] & pmask[None, :]
    c = tl.load(c_ptr + t * stride_ct + offs_p, mask=pmask, other=0.0).to(tl.float32)[None, :]
    s = tl.load(s_ptr + t * stride_st + offs_p, mask=pmask, other=0.0).to(tl.float32)[None, :]
    if INTERLEAVED:
        ia = 2 * offs_p
        ib = 2 * offs_p + 1
    else:
        ia = offs_p
        ib = offs_p + HALF
    xrow = x_ptr + t * stride_xt + offs_h[:, None] * stride_xh
    yrow = y_ptr + t * stride_yt + offs_h[:, None] * stride_yh
    a = tl.load(xrow + ia[None, :], mask=mask, other=0.0).to(tl.float32)
    b = tl.load(xrow + ib[None, :], mask=mask, other=0.0).to(tl.float32)
    tl.store(yrow + ia[None, :], cast(a * c - b * s, y_ptr.dtype.element_ty, INTERPRETED), mask=mask)
    tl.store(yrow + ib[None, :], cast(a * s + b * c, y_ptr.dtype.element_ty, INTERPRETED), mask=mask)


def rope_triton(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool = True) -> torch.Tensor:
    t, h, d = x.shape
    if x.stride(-1) != 1:
        x = x.contiguous()
    y = torch.empty((t, h, d), dtype=x.dtype, device=x.device)
    half = d // 2
    if t and h and half:
        cos = cos if cos.stride(-1) == 1 else cos.contiguous()
        sin = sin if sin.stride(-1) == 1 else sin.contiguous()
        block_p = triton.next_power_of_2(half)
        block_h = max(1, min(triton.next_power_of_2(h), 2048 // block_p))
        _rope_kernel[(t, triton.cdiv(h, block_h))](
            x, cos, sin, y, h, half, x.stride(0), x.stride(1), cos.stride(0), sin.stride(0), y.stride(0),
            y.stride(1), BLOCK_H=block_h, BLOCK_P=block_p, INTERLEAVED=interleaved, INTERPRETED=interpreted(x))
    return y
