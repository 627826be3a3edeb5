"""FP8 numerics in plain torch: 128x128 block weights, per-block activation quantization, the Hadamard rotation.

Reference versions for the CPU and for checks; `kernels/` holds the fast ones. E4M3's largest finite value is 448.
"""
from __future__ import annotations

import math

import torch

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0


def dequantize_fp8_blocks(weight: torch.Tensor, scale_inv: torch.Tensor, block: tuple[int, int] = (128, 128)
                          ) -> torch.Tensor:
    """weight FP8 [M, N], scale_inv float [ceil(M/b0), ceil(N/b1)] -> float32 weight * scale of its block."""
    m, n = weight.shape
    scale = scale_inv.float().repeat_interleave(block[0], 0)[:m].repeat_interleave(block[1], 1)[:, :n]
    return weight.float() * scale


def quantize_fp8_blocks(weight: torch.Tensor, block: tuple[int, int] = (128, 128)
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of `dequantize_fp8_blocks`: (FP8 weight, scale_inv) with each block's amax mapped to 448."""
    m, n = weight.shape
    rows, cols = math.ceil(m / block[0]), math.ceil(n / block[1])
    padded = weight.float().new_zeros(rows * block[0], cols * block[1])
    padded[:m, :n] = weight.float()
    blocks = padded.view(rows, block[0], cols, block[1])
    amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12)
    scale_inv = amax / FP8_MAX
    q = (blocks / scale_inv[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    return q.view(rows * block[0], cols * block[1])[:m, :n].contiguous(), scale_inv


def fake_act_quant(x: torch.Tensor, block: int = 128, pow2_scale: bool = True) -> torch.Tensor:
    """Quantize x to FP8 in blocks of `block` along the last axis and back (the values the FP8 kernels see).

    The scale is amax / 448, rounded up to a power of two when `pow2_scale` (DeepSeek's "ue8m0" format)."""
    shape = x.shape
    blocks = x.float().unflatten(-1, (-1, min(block, shape[-1])))
    scale = blocks.abs().amax(dim=-1, keepdim=True).clamp(min=1e-4) / FP8_MAX
    if pow2_scale:
        scale = torch.exp2(torch.ceil(torch.log2(scale)))
    q = (blocks / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8).float() * scale
    return q.flatten(-2).to(x.dtype)


def hadamard(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal Walsh-Hadamard transform along the last axis (a power of two): H x / sqrt(d)."""
    d = x.shape[-1]
    if d & (d - 1):
        raise ValueError(f"hadamard needs a power-of-two size, got {d}")
    y = x.float()
    h = 1
    while h < d:
        y = y.unflatten(-1, (-1, 2, h))
        y = torch.cat((y[..., 0, :] + y[..., 1, :], y[..., 0, :] - y[..., 1, :]), dim=-1).flatten(-2)
        h *= 2
    return (y * d ** -0.5).to(x.dtype)
