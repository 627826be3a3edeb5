"""DeepSeek Sparse Attention's lightning indexer: which earlier tokens each query may attend to.

    I[t, s] = sum_h w[t, h] * ReLU(q[t, h] . k[s])        w = weights_proj(x) * n_heads^-0.5 * head_dim^-0.5

q comes from the query latent `qr` (wq_b), k from the hidden state (wk, then k_norm: a LayerNorm with bias); one key
per token, shared by all index heads. RoPE is NeoX-style on the first `qk_rope_head_dim` dimensions (the rope slice
comes first here, unlike MLA). Each query keeps its top-min(index_topk, S) causal keys.

Exact mode (float32) scores in float32 with nothing else. Otherwise, as in the official code, q and k are rotated by
a Hadamard transform and pass through FP8 (e4m3, one power-of-two scale per 128 values) before scoring; a positive
scale commutes with ReLU, so q's scale joins w and k's scale multiplies its column of I.

The scores and the top-k run through kernels.indexer_logits(_fp8) and kernels.topk_indices (Triton on CUDA).
"""
from __future__ import annotations

import torch
from torch import nn

import kernels
from model.config import ModelConfig
from model.errors import ModelError
from model.layers.rope import rotate

QUANT_BLOCK = 128


def widen(x_fp8: torch.Tensor, scale: torch.Tensor, block: int = QUANT_BLOCK) -> torch.Tensor:
    """The float32 values of kernels.act_quant's output: x_fp8 * the scale of its block."""
    return x_fp8.float() * scale.repeat_interleave(block, dim=-1)[..., : x_fp8.shape[-1]]


class Indexer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.q_lora_rank is None or not cfg.index_topk:  # ModelConfig.from_hf requires both for an indexer
            raise ModelError("the lightning indexer needs index_topk and q_lora_rank in the config")
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
        return torch.cat((rotate(x_pe, cos, sin, interleaved=False), x_nope), dim=-1)

    def _quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hadamard rotation, then FP8 -> (x_fp8, scale [..., head_dim / 128])."""
        return kernels.act_quant(kernels.hadamard(x), QUANT_BLOCK, pow2_scale=True)

    def keys(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x [B, T, D] -> index keys [B, T, head_dim] (what a cache stores as `index_k`).

        In FP8 mode the keys are the quantized values, widened: a power-of-two scale makes that exact in bf16, and
        quantizing them again gives back the same FP8 values."""
        k = self._rope_first(self.k_norm(self.wk(x)), cos, sin)
        if self.fp8:
            k = widen(*self._quantize(k)).to(k.dtype)
        return k

    def topk(self, x: torch.Tensor, qr: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, keys: torch.Tensor,
             ends: torch.Tensor) -> torch.Tensor:
        """Keys [B, S, head_dim]; query t of row b may see keys 0..ends[b, t]-1 -> the selected keys [B, T, k] int32,
        k = min(index_topk, S), ascending, -1 where fewer than k keys are visible."""
        b, t, _ = x.shape
        q = self._rope_first(self.wq_b(qr).view(b, t, self.n_heads, self.head_dim), cos, sin)
        weights = self.weights_proj(x.float() if self.weights_proj.weight.dtype == torch.float32 else x).float()
        weights = weights * self.n_heads ** -0.5 * self.softmax_scale  # [B, T, H]
        fp8 = self.fp8 and self.head_dim <= QUANT_BLOCK  # one scale per (token, head) and per key
        if fp8:
            q, q_scale = self._quantize(q)
            weights = weights * q_scale[..., 0]
            keys, k_scale = kernels.act_quant(keys, QUANT_BLOCK, pow2_scale=True)
        elif self.fp8:
            q = widen(*self._quantize(q))
        ends = ends.to(torch.int32)
        starts = torch.zeros_like(ends[0])
        k = min(self.index_topk, keys.shape[1])
        selected = []
        for i in range(b):  # the kernels score one sequence's queries against that sequence's keys
            if fp8:
                logits = kernels.indexer_logits_fp8(q[i], keys[i], k_scale[i, :, 0], weights[i], starts, ends[i])
            else:
                logits = kernels.indexer_logits(q[i], keys[i], weights[i], starts, ends[i])
            selected.append(kernels.topk_indices(logits, k))
        return torch.stack(selected)
