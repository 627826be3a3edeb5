"""Multi-head Latent Attention (DeepSeek-V2/V3), optionally sparse through the lightning indexer (V3.2's DSA).

Per token, the keys and values of all heads come from one compressed latent:
    latent = kv_a_layernorm(kv_a_proj_with_mqa(x)[:kv_lora_rank])         [kv_lora_rank]
    k_pe   = RoPE(kv_a_proj_with_mqa(x)[kv_lora_rank:])                    [qk_rope_head_dim], shared by heads
    k_nope, v = split(kv_b_proj(latent)) per head                          [qk_nope_head_dim], [v_head_dim]
    q = q_b_proj(q_a_layernorm(q_a_proj(x)))   (or q_proj(x) without q-LoRA), per head [q_nope | RoPE(q_pe)]
    score[t, s] = (q_nope . k_nope + q_pe . k_pe) * softmax_scale
RoPE is interleaved here (pairs of adjacent dimensions) and the rope slice comes last.

Two equivalent ways to compute it:
- expanded ("MHA mode", prefill): materialize k_nope and v for every key.
- absorbed ("MQA mode", decode over a latent cache): fold kv_b_proj's key half into the query and its value half into
  the output, so attention runs directly on the cached latents:
      q_lat = q_nope @ W_k             score = q_lat . latent + q_pe . k_pe
      o_lat = softmax(score) @ latent  out = o_lat @ W_v^T
Both are exact; `absorb` picks one (default: absorbed when a cache is given).
"""
from __future__ import annotations

import torch
from torch import nn

from model.cache import LayerCache
from model.config import ModelConfig
from model.fp8_linear import linear_weight
from model.indexer import Indexer
from model.norm import RMSNorm
from model.rope import Rope, rotate_interleaved, rotate_neox, softmax_scale_mscale


class MLA(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads = cfg.num_attention_heads
        self.q_lora_rank, self.kv_lora_rank = cfg.q_lora_rank, cfg.kv_lora_rank
        self.nope_dim, self.rope_dim, self.v_dim = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
        qk_dim = self.nope_dim + self.rope_dim
        h = cfg.hidden_size
        if self.q_lora_rank:
            self.q_a_proj = nn.Linear(h, self.q_lora_rank, bias=False)
            self.q_a_layernorm = RMSNorm(self.q_lora_rank)
            self.q_b_proj = nn.Linear(self.q_lora_rank, self.n_heads * qk_dim, bias=False)
        else:
            self.q_proj = nn.Linear(h, self.n_heads * qk_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(h, self.kv_lora_rank + self.rope_dim, bias=False)
        self.kv_a_layernorm = RMSNorm(self.kv_lora_rank)
        self.kv_b_proj = nn.Linear(self.kv_lora_rank, self.n_heads * (self.nope_dim + self.v_dim), bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.v_dim, h, bias=False)
        self.indexer = Indexer(cfg) if cfg.index_topk else None
        self.rotate = rotate_interleaved if cfg.rope_interleave else rotate_neox
        self.softmax_scale = qk_dim ** -0.5 * softmax_scale_mscale(cfg.rope)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, rope: Rope, cache: LayerCache | None = None,
                absorb: bool | None = None) -> torch.Tensor:
        """x [B, T, hidden], positions [B, T] -> [B, T, hidden]. With a cache, keys are every cached token."""
        b, t, _ = x.shape
        cos, sin = rope(positions)  # [B, T, rope_dim / 2]
        if self.q_lora_rank:
            qr = self.q_a_layernorm(self.q_a_proj(x))
            q = self.q_b_proj(qr)
        else:
            qr, q = None, self.q_proj(x)
        q_nope, q_pe = q.view(b, t, self.n_heads, -1).split([self.nope_dim, self.rope_dim], dim=-1)
        q_pe = self.rotate(q_pe, cos[:, :, None], sin[:, :, None])

        latent, k_pe = self.kv_a_proj_with_mqa(x).split([self.kv_lora_rank, self.rope_dim], dim=-1)
        latent = self.kv_a_layernorm(latent)
        k_pe = self.rotate(k_pe, cos, sin)
        entries = {"latent": latent, "k_pe": k_pe}
        if self.indexer is not None:
            entries["index_k"] = self.indexer.keys(x, cos, sin)
        if cache is not None:
            entries = cache.update(self.layer, positions, **entries)
        s = entries["latent"].shape[1]
        key_positions = torch.arange(s, device=x.device) if cache is not None else positions[:, None, :]
        allowed = key_positions <= positions[:, :, None]  # [B, T, S], causal
        if self.indexer is not None:
            allowed = self.indexer.select(x, qr, cos, sin, entries["index_k"], allowed)

        absorb = cache is not None if absorb is None else absorb
        attend = self._absorbed if absorb else self._expanded
        out = attend(q_nope, q_pe, entries["latent"], entries["k_pe"], allowed)  # [B, T, H, v_dim]
        return self.o_proj(out.flatten(2))

    def _softmax(self, scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        scores = scores.float() * self.softmax_scale
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        return scores.softmax(dim=-1)

    def _expanded(self, q_nope, q_pe, latent, k_pe, allowed):
        b, s, _ = latent.shape
        k_nope, v = self.kv_b_proj(latent).view(b, s, self.n_heads, -1).split([self.nope_dim, self.v_dim], dim=-1)
        scores = torch.einsum("bthd,bshd->bhts", q_nope, k_nope) + torch.einsum("bthr,bsr->bhts", q_pe, k_pe)
        probs = self._softmax(scores, allowed).to(v.dtype)
        return torch.einsum("bhts,bshd->bthd", probs, v)

    def _absorbed(self, q_nope, q_pe, latent, k_pe, allowed):
        w = linear_weight(self.kv_b_proj, latent.dtype).view(self.n_heads, self.nope_dim + self.v_dim,
                                                            self.kv_lora_rank)
        w_k, w_v = w.split([self.nope_dim, self.v_dim], dim=1)
        q_lat = torch.einsum("bthd,hdc->bthc", q_nope, w_k)
        scores = torch.einsum("bthc,bsc->bhts", q_lat, latent) + torch.einsum("bthr,bsr->bhts", q_pe, k_pe)
        probs = self._softmax(scores, allowed).to(latent.dtype)
        o_lat = torch.einsum("bhts,bsc->bthc", probs, latent)
        return torch.einsum("bthc,hdc->bthd", o_lat, w_v)
