"""Walsh-Hadamard rotation of the last dimension: y = x @ H_D / sqrt(D), H_D in Sylvester order, D a power of two.

Used to spread outliers before FP8 quantization of the lightning indexer's q and k. The Triton kernel builds the
+-1 matrix in registers (H[i, j] = (-1)^popcount(i & j)) and applies it with one tensor-core dot per row tile, so
it reads and writes each element once; it handles D <= 256 (the indexer's D is 128), larger D uses the reference.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels._tl import cast, interpreted, mma

MAX_TRITON_D = 256


def hadamard_ref(x: torch.Tensor) -> torch.Tensor:
    """Fast Walsh-Hadamard transform in fp32 (log2 D butterfly stages), scaled by 1/sqrt(D), in x's dtype."""
    d = x.shape[-1]
    y = x.to(torch.promote_types(x.dtype, torch.float32)).reshape(-1, d)
    h = 1
    while h < d:
        y = y.view(-1, d // (2 * h), 2, h)
        a, b = y[:, :, 0, :], y[:, :, 1, :]
        y = torch.stack((a + b, a - b), dim=2)
        h *= 2
    return (y.reshape(x.shape) * (1.0 / math.sqrt(d))).to(x.dtype)


@triton.jit
def _hadamard_kernel(x_ptr, y_ptr, M, stride_xm, stride_ym, scale,
                     D: tl.constexpr, D_PAD: tl.constexpr, LOG2_D: tl.constexpr, BLOCK_M: tl.constexpr,
                     INTERPRETED: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, D_PAD)
    rmask = rows < M
    cmask = cols < D
    x = tl.load(x_ptr + rows[:, None] * stride_xm + cols[None, :], mask=rmask[:, None] & cmask[None, :], other=0.0)
    # Sylvester Hadamard entries: sign is the parity of the common set bits of row and column index.
    both = cols[:, None] & cols[None, :]
    parity = tl.zeros((D_PAD, D_PAD), dtype=tl.int32)
    for b in tl.static_range(LOG2_D):
        parity = parity ^ ((both >> b) & 1)
    inside = cmask[:, None] & cmask[None, :]
    h = tl.where(inside, 1.0 - 2.0 * parity.to(tl.float32), 0.0)
    if x.dtype != tl.float32:
        h = h.to(x.dtype)  # +-1 is exact in every float format; accumulation stays fp32
    y = mma(x, h, tl.zeros((BLOCK_M, D_PAD), dtype=tl.float32), INTERPRETED)
    y = y * scale
    tl.store(y_ptr + rows[:, None] * stride_ym + cols[None, :], cast(y, y_ptr.dtype.element_ty, INTERPRETED),
             mask=rmask[:, None] & cmask[None, :])


def hadamard_triton(x: torch.Tensor) -> torch.Tensor:
    """Triton version of hadamard_ref (same signature); D must be a power of two <= 256."""
    d = x.shape[-1]
    if d > MAX_TRITON_D:
        return hadamard_ref(x)
    x2 = x.reshape(-1, d)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    m = x2.shape[0]
    y = torch.empty((m, d), dtype=x.dtype, device=x.device)
    if m == 0:
        return y.view(x.shape)
    d_pad = max(16, d)
    block_m = 64 if d <= 128 else 32
    block_m = min(block_m, max(16, triton.next_power_of_2(m)))
    grid = (triton.cdiv(m, block_m),)
    _hadamard_kernel[grid](x2, y, m, x2.stride(0), y.stride(0), 1.0 / math.sqrt(d),
                           D=d, D_PAD=d_pad, LOG2_D=max(1, int(math.log2(d_pad))), BLOCK_M=block_m,
                           INTERPRETED=interpreted(x))
    return y.view(x.shape)
