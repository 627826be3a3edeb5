"""A linear layer that keeps its checkpoint's FP8 weight (e4m3, one scale per 128x128 block) instead of widening it.

Half the memory of bf16. It holds `weight` [out, in] float8_e4m3fn and `weight_scale_inv` [ceil(out/b0),
ceil(in/b1)] float32, names as in the checkpoint. With DeepSeek's 128x128 blocks the forward is FP8 on both sides,
as in the official code: x is quantized per token and 128 inputs (kernels.act_quant), then
y = kernels.fp8_gemm(x_fp8, x_scale, weight, weight_scale_inv) accumulates each 128-block's product in float32
(the Triton kernel on CUDA, its reference elsewhere). Checkpoints whose quantization_config says scale_fmt "ue8m0"
(V3.1, V3.2) were trained with activation scales rounded up to powers of two, and get them here too
(`pow2_scales`). Other block sizes widen the weight on the fly.
"""
from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

import kernels
from model.layers.quant import dequantize_fp8_blocks

GEMM_BLOCK = 128  # the block size kernels.fp8_gemm takes


class FP8Linear(nn.Module):
    weight_scale_inv: torch.Tensor  # a buffer

    def __init__(self, weight: torch.Tensor, weight_scale_inv: torch.Tensor, block: tuple[int, int] = (128, 128),
                 pow2_scales: bool = False):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.block = (block[0], block[1])  # a tuple even when the config gave a list
        self.pow2_scales = pow2_scales
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.register_buffer("weight_scale_inv", weight_scale_inv.float())

    def dequantized(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize_fp8_blocks(self.weight, self.weight_scale_inv, self.block).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.block != (GEMM_BLOCK, GEMM_BLOCK):
            return F.linear(x, self.dequantized(x.dtype))
        x_fp8, x_scale = kernels.act_quant(x.reshape(-1, self.in_features), GEMM_BLOCK, pow2_scale=self.pow2_scales)
        y = kernels.fp8_gemm(x_fp8, x_scale, self.weight, self.weight_scale_inv)  # bf16
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        scales = ", ue8m0 activation scales" if self.pow2_scales else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 block={self.block}{scales}"


def linear_weight(module: nn.Module, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The [out, in] weight of an nn.Linear or an FP8Linear, in `dtype` (default: the module's compute dtype)."""
    if isinstance(module, FP8Linear):
        return module.dequantized(dtype or torch.float32)
    weight = cast(torch.Tensor, module.weight)  # an nn.Linear's (nn.Module types attributes as Tensor | Module)
    return weight if dtype is None else weight.to(dtype)
