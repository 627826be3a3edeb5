"""RMSNorm as the checkpoints use it: y = x / sqrt(mean(x^2) + eps) * weight, computed in float32, in x's dtype.

With `residual`, the add before the norm is fused into it: returns (RMSNorm(x + residual), x + residual), the sum
rounded to x's dtype as an unfused model would store it. Runs through kernels.rmsnorm (Triton on CUDA).
"""
from __future__ import annotations

import torch
from torch import nn

import kernels


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None):
        return kernels.rmsnorm(x, self.weight, self.eps, residual)
