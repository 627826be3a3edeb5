"""Rotary position embeddings: frequencies (default, linear, YaRN, Llama 3) and the two ways of pairing dimensions.

- interleaved: dimension pairs (x0, x1), (x2, x3), ... rotate together. DeepSeek's MLA uses it.
- neox: the first half pairs with the second half, (x_i, x_{i+d/2}). Llama, Qwen2 and DSA's lightning indexer use it.

`Rope(dim, rope)(positions)` returns (cos, sin), each [B, T, dim/2] for positions [B, T]; `rotate` turns
x [B, T, ..., dim] with them (kernels.rope: the Triton kernel on CUDA, its PyTorch reference elsewhere).
"""
from __future__ import annotations

import math

import torch
from torch import nn

import kernels
from model.config import RopeConfig


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    """YaRN's attention temperature: 0.1 * mscale * ln(factor) + 1 for factor > 1."""
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def inverse_frequencies(dim: int, rope: RopeConfig, max_position_embeddings: int) -> tuple[torch.Tensor, float]:
    """(inv_freq [dim/2], attention_factor): the factor multiplies cos and sin (1 unless YaRN says otherwise)."""
    base = rope.rope_theta
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    if rope.rope_type == "linear":
        return (inv_freq / rope.factor).float(), 1.0
    if rope.rope_type == "llama3":
        return llama3_frequencies(inv_freq, rope), 1.0
    if rope.rope_type != "yarn":
        return inv_freq.float(), 1.0
    factor = rope.factor
    original = rope.original_max_position_embeddings or max_position_embeddings

    def correction_dim(rotations: float) -> float:
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(rope.beta_fast), correction_dim(rope.beta_slow)
    if rope.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extrapolate = 1 - ramp  # 1 = keep the original frequency, 0 = interpolate by `factor`
    inv = inv_freq.float()
    inv_freq = inv / factor * (1 - extrapolate) + inv * extrapolate
    if rope.attention_factor is not None:
        attention_factor = float(rope.attention_factor)
    elif rope.mscale and rope.mscale_all_dim:
        attention_factor = yarn_mscale(factor, rope.mscale) / yarn_mscale(factor, rope.mscale_all_dim)
    else:
        attention_factor = yarn_mscale(factor)
    return inv_freq, attention_factor


def llama3_frequencies(inv_freq: torch.Tensor, rope: RopeConfig) -> torch.Tensor:
    """Llama 3.1's long-context scaling: long wavelengths (past original / low_freq_factor tokens) are slowed by
    `factor`, short ones (under original / high_freq_factor) kept, and those between blended linearly in
    original / wavelength."""
    original = rope.original_max_position_embeddings
    assert original is not None, "config.py requires it for llama3 scaling"
    wavelength = 2 * math.pi / inv_freq
    smooth = ((original / wavelength - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor))
    blended = (1 - smooth) * inv_freq / rope.factor + smooth * inv_freq
    out = torch.where(wavelength > original / rope.low_freq_factor, inv_freq / rope.factor, inv_freq)
    between = (wavelength <= original / rope.low_freq_factor) & (wavelength >= original / rope.high_freq_factor)
    return torch.where(between, blended, out).float()


def softmax_scale_mscale(rope: RopeConfig) -> float:
    """Extra factor on MLA's softmax scale under YaRN: mscale(factor, mscale_all_dim) squared."""
    if rope.rope_type == "yarn" and rope.mscale_all_dim:
        return yarn_mscale(rope.factor, rope.mscale_all_dim) ** 2
    return 1.0


class Rope(nn.Module):
    inv_freq: torch.Tensor  # a buffer (moves with the module)

    def __init__(self, dim: int, rope: RopeConfig, max_position_embeddings: int):
        super().__init__()
        inv_freq, self.attention_factor = inverse_frequencies(dim, rope, max_position_embeddings)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angles = positions.float()[..., None] * self.inv_freq.float()
        return angles.cos() * self.attention_factor, angles.sin() * self.attention_factor


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """x [B, T, ..., D] rotated by its token's angles, cos/sin [B, T, D/2] (from `Rope`), through kernels.rope.

    Pair i = (a, b) becomes (a cos_i - b sin_i, a sin_i + b cos_i), in float32, returned in x's dtype; the pairs are
    (x[2i], x[2i+1]) when interleaved, else (x[i], x[i + D/2])."""
    b, t = cos.shape[:2]
    flat = x.reshape(b * t, *x.shape[2:])
    return kernels.rope(flat, cos.reshape(b * t, -1), sin.reshape(b * t, -1), interleaved).view(x.shape)
