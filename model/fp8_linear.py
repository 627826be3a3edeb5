"""A linear layer that keeps its checkpoint's FP8 weight (e4m3, one scale per 128x128 block) instead of widening it.

Half the memory of bf16. The forward here widens the weight on the fly (plain torch, any device); an FP8 GEMM kernel
can replace `forward` without changing what the module holds: `weight` [out, in] float8_e4m3fn and
`weight_scale_inv` [ceil(out/b0), ceil(in/b1)] float32, names as in the checkpoint.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.quant import dequantize_fp8_blocks


class FP8Linear(nn.Module):
    def __init__(self, weight: torch.Tensor, weight_scale_inv: torch.Tensor, block: tuple[int, int] = (128, 128)):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.block = tuple(block)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.register_buffer("weight_scale_inv", weight_scale_inv.float())

    def dequantized(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize_fp8_blocks(self.weight, self.weight_scale_inv, self.block).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dequantized(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 block={self.block}"


def linear_weight(module: nn.Module, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The [out, in] weight of an nn.Linear or an FP8Linear, in `dtype` (default: the module's compute dtype)."""
    if isinstance(module, FP8Linear):
        return module.dequantized(dtype or torch.float32)
    return module.weight if dtype is None else module.weight.to(dtype)
