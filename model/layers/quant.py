"""FP8 block weights in plain torch: widening a checkpoint's e4m3 weights by their 128x128 block scales, and the
inverse (for tests and conversions). Activation quantization and the Hadamard rotation are kernels (kernels.act_quant,
kernels.hadamard). E4M3's largest finite value is 448.
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
