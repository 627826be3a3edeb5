"""DeepSeek Sparse Attention's lightning indexer: which earlier tokens each query may attend to.

    I[t, s] = sum_h w[t, h] * ReLU(q[t, h] . k[s])        w = weights_proj(x) * n_heads^-0.5 * head_dim^-0.5

q comes from the query latent `qr` (wq_b), k from the hidden state (wk, then k_norm: a LayerNorm with bias); one key
per token, shared by all index heads. RoPE is NeoX-style on the first `qk_rope_head_dim` dimensions (the rope slice
comes first here, unlike MLA). Each query keeps its top-min(index_topk, S) causal keys.

Exact mode (float32) scores in float32 with nothing else. Otherwise, as in the official code, q and k are rotated by
a Hadamard transform and pass through FP8 with power-of-two block scales before scoring.
"""
from __future__ import annotations

import torch
from torch import nn

from model.config import ModelConfig
from model.quant import fake_act_quant, hadamard
from model.rope import rotate_neox


class Indexer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.index_n_heads, cfg.index_head_dim
        self.rope_dim = cfg.qk_rope_head_dim
        self.index_topk = cfg.index_topk
        self.wq_b = nn.Linear(cfg.q_lora_rank, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(cfg.hidden_size, self.head_dim, bias=False)
        self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-6)
        self.weights_proj = nn.Linear(cfg.hidden_size, self.n_heads, bias=False)
        self.softmax_scale = self.head_dim ** -0.5
        self.fp8 = False  # set by the loader for non-float32 dtypes

    def _rope_first(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x_pe, x_nope = x.split([self.rope_dim, self.head_dim - self.rope_dim], dim=-1)
        x = torch.cat((rotate_neox(x_pe, cos, sin), x_nope), dim=-1)
        if self.fp8:
            x = fake_act_quant(hadamard(x))
        return x

    def keys(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x [B, T, D] -> index keys [B, T, head_dim] (what a cache stores as `index_k`)."""
        return self._rope_first(self.k_norm(self.wk(x)), cos, sin)

    def select(self, x: torch.Tensor, qr: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
               keys: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Keys [B, S, head_dim], causal mask allowed [B, T, S] -> the selected subset of `allowed`, [B, T, S]."""
        b, t, _ = x.shape
        q = self.wq_b(qr).view(b, t, self.n_heads, self.head_dim)
        q = self._rope_first(q, cos[:, :, None], sin[:, :, None])
        scores = torch.einsum("bthd,bsd->bths", q.float(), keys.float()) * self.softmax_scale
        weights = self.weights_proj(x.float() if self.weights_proj.weight.dtype == torch.float32 else x).float()
        weights = weights * self.n_heads ** -0.5
        index = torch.einsum("bth,bths->bts", weights, scores.relu())
        index = index.masked_fill(~allowed, float("-inf"))
        k = min(self.index_topk, index.shape[-1])
        top = index.topk(k, dim=-1).indices
        selected = torch.zeros_like(allowed).scatter_(-1, top, True)
        return selected & allowed
