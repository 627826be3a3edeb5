"""Block-wise FP8 (e4m3) quantization of activations along the last dimension.

For each run of `block` consecutive elements: amax = max|x| clamped at 1e-4, scale = amax / 448 (448 is e4m3's
largest finite value), rounded up to a power of two when pow2_scale (then dividing by it is exact), and
x_fp8 = x / scale. A last block shorter than `block` gets its own scale. Scales are fp32, shape [..., ceil(D/block)].
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._tl import cast, interpreted

FP8_MAX = 448.0
AMAX_FLOOR = 1e-4


def _ceil_pow2_fp32(s: torch.Tensor) -> torch.Tensor:
    """Round positive normal fp32 values up to a power of two, exactly, by clearing the mantissa with a carry."""
    bits = s.view(torch.int32)
    return ((bits + 0x7FFFFF) & -0x800000).view(torch.float32)


def act_quant_ref(x: torch.Tensor, block: int = 128, pow2_scale: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    d = x.shape[-1]
    nb = -(-d // block)
    xf = x.float().reshape(-1, d)
    pad = nb * block - d
    xp = torch.nn.functional.pad(xf, (0, pad)) if pad else xf
    xb = xp.view(-1, nb, block)
    amax = xb.abs().amax(dim=-1).clamp_min(AMAX_FLOOR)
    scale = amax / FP8_MAX
    if pow2_scale:
        scale = _ceil_pow2_fp32(scale)
    q = (xb / scale.unsqueeze(-1)).view(-1, nb * block)[:, :d]
    return q.to(torch.float8_e4m3fn).reshape(x.shape), scale.reshape(*x.shape[:-1], nb)


@triton.jit
def _act_quant_kernel(x_ptr, y_ptr, s_ptr, M, D, NB, stride_xm, stride_ym, stride_sm,
                      BLOCK: tl.constexpr, BLOCK_M: tl.constexpr, POW2: tl.constexpr,
                      INTERPRETED: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_b = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = pid_b * BLOCK + tl.arange(0, BLOCK)
    mask = (rows < M)[:, None] & (cols < D)[None, :]
    x = tl.load(x_ptr + rows[:, None] * stride_xm + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    amax = tl.maximum(tl.max(tl.abs(x), axis=1), 1e-4)
    s = amax / 448.0
    if POW2:
        bits = s.to(tl.int32, bitcast=True)
        s = ((bits + 0x7FFFFF) & -0x800000).to(tl.float32, bitcast=True)
    y = x / s[:, None]
    tl.store(y_ptr + rows[:, None] * stride_ym + cols[None, :], cast(y, y_ptr.dtype.element_ty, INTERPRETED), mask=mask)
    tl.store(s_ptr + rows * stride_sm + pid_b, s, mask=rows < M)


def act_quant_triton(x: torch.Tensor, block: int = 128,
                     pow2_scale: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    d = x.shape[-1]
    nb = -(-d // block)
    x2 = x.reshape(-1, d)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    m = x2.shape[0]
    y = torch.empty((m, d), dtype=torch.float8_e4m3fn, device=x.device)
    s = torch.empty((m, nb), dtype=torch.float32, device=x.device)
    if m and d:
        block_p2 = triton.next_power_of_2(block)
        if block_p2 != block:
            return act_quant_ref(x, block, pow2_scale)
        block_m = max(1, min(16, 4096 // block_p2, triton.next_power_of_2(m)))
        grid = (triton.cdiv(m, block_m), nb)
        _act_quant_kernel[grid](x2, y, s, m, d, nb, x2.stride(0), y.stride(0), s.stride(0),
                                BLOCK=block_p2, BLOCK_M=block_m, POW2=pow2_scale, INTERPRETED=interpreted(x))
    return y.reshape(x.shape), s.reshape(*x.shape[:-1], nb)
