"""RMSNorm over the last dimension, optionally fused with the residual add before it.

rmsnorm(x, weight, eps) = x / sqrt(mean(x^2) + eps) * weight, computed in fp32, returned in x's dtype.
With residual: h = x + residual (rounded to x's dtype, as the unfused model stores it), returns (rmsnorm(h), h).
One program normalizes BLOCK_M rows, each read once and written once (twice with the residual).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._tl import cast, interpreted


def rmsnorm_ref(x: torch.Tensor, weight: torch.Tensor, eps: float, residual: torch.Tensor | None = None):
    if residual is not None:
        x = (x.float() + residual.float()).to(x.dtype)
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps) * weight.float()
    y = y.to(x.dtype)
    return (y, x) if residual is not None else y


@triton.jit
def _rmsnorm_kernel(x_ptr, r_ptr, w_ptr, y_ptr, h_ptr, M, D, eps, stride_x, stride_r, stride_y, stride_h,
                    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr, HAS_RES: tl.constexpr,
                    INTERPRETED: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_D)
    mask = (rows < M)[:, None] & (cols < D)[None, :]
    x = tl.load(x_ptr + rows[:, None] * stride_x + cols[None, :], mask=mask, other=0.0)
    if HAS_RES:
        r = tl.load(r_ptr + rows[:, None] * stride_r + cols[None, :], mask=mask, other=0.0)
        x = cast(x.to(tl.float32) + r.to(tl.float32), h_ptr.dtype.element_ty, INTERPRETED)
        tl.store(h_ptr + rows[:, None] * stride_h + cols[None, :], x, mask=mask)
    xf = x.to(tl.float32)
    ms = tl.sum(xf * xf, axis=1) / D
    inv = 1.0 / tl.sqrt(ms + eps)
    w = tl.load(w_ptr + cols, mask=cols < D, other=0.0).to(tl.float32)
    y = xf * inv[:, None] * w[None, :]
    tl.store(y_ptr + rows[:, None] * stride_y + cols[None, :], cast(y, y_ptr.dtype.element_ty, INTERPRETED), mask=mask)


def rmsnorm_triton(x: torch.Tensor, weight: torch.Tensor, eps: float, residual: torch.Tensor | None = None):
    d = x.shape[-1]
    x2 = x.reshape(-1, d)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    m = x2.shape[0]
    y = torch.empty((m, d), dtype=x.dtype, device=x.device)
    h = torch.empty((m, d), dtype=x.dtype, device=x.device) if residual is not None else y
    r2 = residual.reshape(-1, d) if residual is not None else x2
    if r2.stride(-1) != 1:
        r2 = r2.contiguous()
    if m and d:
        block_d = triton.next_power_of_2(d)
        block_m = max(1, min(16, 8192 // block_d, triton.next_power_of_2(m)))
        warps = 4 if block_d <= 2048 else 8
        _rmsnorm_kernel[(triton.cdiv(m, block_m),)](
            x2, r2, weight.contiguous(), y, h, m, d, float(eps), x2.stride(0), r2.stride(0), y.stride(0),
            h.stride(0), BLOCK_M=block_m, BLOCK_D=block_d, HAS_RES=residual is not None,
            INTERPRETED=interpreted(x), num_warps=warps)
    if residual is not None:
        return y.view(x.shape), h.view(x.shape)
    return y.view(x.shape)
