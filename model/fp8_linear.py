"""A linear layer that keeps its checkpoint's FP8 weight (e4m3, one scale per 128x128 block) instead of widening it.

Half the memory of bf16. It holds `weight` [out, in] float8_e4m3fn and `weight_scale_inv` [ceil(out/b0),
ceil(in/b1)] float32, names as in the checkpoint. With DeepSeek's 128x128 blocks the forward is FP8 on both sides,
as in the official code: x is quantized per token and 128 inputs (kernels.act_quant), then
y = kernels.fp8_gemm(x_fp8, x_scale, weight, weight_scale_inv) accumulates each 128-block's product in float32
(the Triton kernel on CUDA, its reference elsewhere). Other block sizes widen the weight on the fly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import kernels
from model.quant import dequantize_fp8_blocks

GEMM_BLOCK = 128  # the block size kernels.fp8_gemm takes


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
        if self.block != (GEMM_BLOCK, GEMM_BLOCK):
            return F.linear(x, self.dequantized(x.dtype))
        x_fp8, x_scale = kernels.act_quant(x.reshape(-1, self.in_features), GEMM_BLOCK, pow2_scale=False)
        y = kernels.fp8_gemm(x_fp8, x_scale, self.weight, self.weight_scale_inv)  # bf16
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 block={self.block}"


def linear_weight(module: nn.Module, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The [out, in] weight of an nn.Linear or an FP8Linear, in `dtype` (default: the module's compute dtype)."""
    if isinstance(module, FP8Linear):
        return module.dequantized(dtype or torch.float32)
    return module.weight if dtype is None else module.weight.to(dtype)
