"""Grouped-query attention (Llama, Qwen2): n_kv_heads key/value heads, each shared by n_heads / n_kv_heads queries.

NeoX RoPE over the whole head; Qwen2 adds biases to q/k/v, Llama's `attention_bias` adds them to all four.
"""
from __future__ import annotations

import torch
from torch import nn

from model.config import ModelConfig
from model.layers.cache import LayerCache
from model.layers.rope import Rope, rotate


class GQA(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        h, bias = cfg.hidden_size, cfg.attention_bias
        self.q_proj = nn.Linear(h, self.n_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(h, self.n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(h, self.n_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, h, bias=bias and cfg.model_type == "llama")
        self.softmax_scale = self.head_dim ** -0.5

    def forward(self, x: torch.Tensor, positions: torch.Tensor, rope: Rope, cache: LayerCache | None = None,
                absorb: bool | None = None) -> torch.Tensor:
        """x [B, T, hidden], positions [B, T] -> [B, T, hidden]; `absorb` is accepted for symmetry with MLA."""
        b, t, _ = x.shape
        cos, sin = rope(positions)
        q = rotate(self.q_proj(x).view(b, t, self.n_heads, self.head_dim), cos, sin, interleaved=False)
        k = rotate(self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim), cos, sin, interleaved=False)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim)
        if cache is not None:
            entries = cache.update(self.layer, positions, k=k, v=v)
            k, v = entries["k"], entries["v"]
            key_positions = torch.arange(k.shape[1], device=x.device)
        else:
            key_positions = positions[:, None, :]
        allowed = key_positions <= positions[:, :, None]  # [B, T, S]
        group = self.n_heads // self.n_kv_heads
        q = q.view(b, t, self.n_kv_heads, group, self.head_dim)
        scores = torch.einsum("btkgd,bskd->bkgts", q, k).float() * self.softmax_scale
        scores = scores.masked_fill(~allowed[:, None, None], float("-inf"))
        probs = scores.softmax(dim=-1).to(v.dtype)
        out = torch.einsum("bkgts,bskd->btkgd", probs, v)
        return self.o_proj(out.reshape(b, t, -1))
