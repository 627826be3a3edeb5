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

Decoding (one query per sequence, absorbed) runs through kernels.sparse_mla_decode: each query reads only the cache
rows it attends to, [latent | k_pe] (the values being the latent part): the indexer's top-k under DSA, which makes
DSA decode sparse, or every causal key without an indexer. Longer chunks attend under a [B, T, S] mask.
"""
from __future__ import annotations

import torch
from torch import nn

import kernels
from model.config import ModelConfig
from model.layers.cache import LayerCache
from model.layers.fp8_linear import linear_weight
from model.layers.indexer import Indexer
from model.layers.norm import RMSNorm
from model.layers.rope import Rope, rotate, softmax_scale_mscale


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
        self.rope_interleave = cfg.rope_interleave
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
        q_pe = rotate(q_pe, cos, sin, self.rope_interleave)

        latent, k_pe = self.kv_a_proj_with_mqa(x).split([self.kv_lora_rank, self.rope_dim], dim=-1)
        latent = self.kv_a_layernorm(latent)
        k_pe = rotate(k_pe, cos, sin, self.rope_interleave)
        entries = {"latent": latent, "k_pe": k_pe}
        if self.indexer is not None:
            entries["index_k"] = self.indexer.keys(x, cos, sin)
        if cache is not None:
            entries = cache.update(self.layer, positions, **entries)
        s = entries["latent"].shape[1]
        key_positions = torch.arange(s, device=x.device) if cache is not None else positions[:, None, :]
        allowed = key_positions <= positions[:, :, None]  # [B, T, S], causal (keys in position order)
        selected = None  # DSA: [B, T, K] the keys each query attends to, -1 = none
        if self.indexer is not None:
            selected = self.indexer.topk(x, qr, cos, sin, entries["index_k"], ends=allowed.sum(-1))

        absorb = cache is not None if absorb is None else absorb
        latent, k_pe = entries["latent"], entries["k_pe"]
        if absorb and t == 1:  # decode: read only the attended rows
            if selected is None:
                selected = torch.where(allowed, torch.arange(s, device=x.device), -1)
            out = self._sparse_decode(q_nope, q_pe, latent, k_pe, selected[:, 0])
        else:
            if selected is not None:
                allowed = index_mask(selected, s)
            attend = self._absorbed if absorb else self._expanded
            out = attend(q_nope, q_pe, latent, k_pe, allowed)  # [B, T, H, v_dim]
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

    def _absorb_weights(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """kv_b_proj's weight split per head: W_k [H, nope_dim, kv_lora_rank], W_v [H, v_dim, kv_lora_rank]."""
        w = linear_weight(self.kv_b_proj, dtype).view(self.n_heads, self.nope_dim + self.v_dim, self.kv_lora_rank)
        return w.split([self.nope_dim, self.v_dim], dim=1)

    def _absorbed(self, q_nope, q_pe, latent, k_pe, allowed):
        w_k, w_v = self._absorb_weights(latent.dtype)
        q_lat = torch.einsum("bthd,hdc->bthc", q_nope, w_k)
        scores = torch.einsum("bthc,bsc->bhts", q_lat, latent) + torch.einsum("bthr,bsr->bhts", q_pe, k_pe)
        probs = self._softmax(scores, allowed).to(latent.dtype)
        o_lat = torch.einsum("bhts,bsc->bthc", probs, latent)
        return torch.einsum("bthc,hdc->bthd", o_lat, w_v)

    def _sparse_decode(self, q_nope, q_pe, latent, k_pe, selected):
        """One query per sequence (q_nope, q_pe [B, 1, H, .]) over its cache rows `selected` [B, K] (-1: none):
        gather those rows [latent | k_pe], attend with q = [q_nope @ W_k | q_pe], then out = o_lat @ W_v^T."""
        w_k, w_v = self._absorb_weights(latent.dtype)
        q = torch.cat((torch.einsum("bhd,hdc->bhc", q_nope[:, 0], w_k), q_pe[:, 0]), dim=-1)  # [B, H, C + R]
        b, k = selected.shape
        picked = selected.long().clamp(min=0)[..., None]
        rows = torch.cat((latent.gather(1, picked.expand(-1, -1, latent.shape[-1])),
                          k_pe.gather(1, picked.expand(-1, -1, k_pe.shape[-1]))), dim=-1)  # [B, K, C + R]
        row_ids = torch.arange(b * k, device=q.device).view(b, k)
        row_ids = torch.where(selected >= 0, row_ids, -1).to(torch.int32)
        o_lat, _ = kernels.sparse_mla_decode(q, rows.flatten(0, 1), row_ids, self.softmax_scale, self.kv_lora_rank)
        return torch.einsum("bhc,hdc->bhd", o_lat, w_v)[:, None]  # [B, 1, H, v_dim]


def index_mask(selected: torch.Tensor, s: int) -> torch.Tensor:
    """Selected key indices [B, T, K] (-1: none) -> mask [B, T, S] of the keys each query attends to."""
    slots = torch.where(selected >= 0, selected.long(), s)  # -1 goes to a spare column, dropped below
    mask = torch.zeros(*selected.shape[:2], s + 1, dtype=torch.bool, device=selected.device)
    return mask.scatter_(-1, slots, True)[..., :s]
