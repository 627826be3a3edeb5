"""The decoder: embed -> blocks (attention + feed-forward, each pre-normed with a residual) -> norm -> lm_head.

Module names equal checkpoint names (`model.layers.3.self_attn.kv_b_proj.weight`), so loading is a lookup.
A block's attention is MLA (DeepSeek families, with the DSA indexer when configured) or GQA (Llama, Qwen2); its
feed-forward is DeepSeekMoE or a dense SwiGLU, per `config.mlp_layer_types`.

The hot ops (RMSNorm, RoPE, the DSA indexer and top-k, MLA decode attention, the routed experts, FP8 GEMMs) run
through `kernels`: Triton kernels on CUDA tensors, their PyTorch references elsewhere. `kernels.use_backend("triton")`
or PROOFLOOP_KERNELS=triton forces the kernels (on CPU under TRITON_INTERPRET=1), "torch" the references.
"""
from __future__ import annotations

import torch
from torch import nn

from model.config import ModelConfig
from model.layers.cache import LayerCache
from model.layers.gqa import GQA
from model.layers.mla import MLA
from model.layers.mlp import MLP
from model.layers.moe import MoE
from model.layers.norm import RMSNorm
from model.layers.rope import Rope


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.self_attn = GQA(cfg, layer) if cfg.attention_kind == "gqa" else MLA(cfg, layer)
        self.mlp = MoE(cfg) if cfg.mlp_layer_types[layer] == "sparse" else MLP(cfg.hidden_size, cfg.intermediate_size)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, positions, rope, cache=None, absorb=None):
        attn = self.self_attn(self.input_layernorm(x), positions, rope, cache, absorb)
        h, x = self.post_attention_layernorm(attn, residual=x)  # x <- x + attn, h <- RMSNorm(x), one pass
        return x + self.mlp(h)


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.model = Decoder(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        rope_dim = cfg.head_dim if cfg.attention_kind == "gqa" else cfg.qk_rope_head_dim
        self.rope = Rope(rope_dim, cfg.rope, cfg.max_position_embeddings)

    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None = None,
                cache: LayerCache | None = None, absorb: bool | None = None) -> torch.Tensor:
        """input_ids [B, T] -> logits [B, T, vocab] (float32).

        positions [B, T] (or [T]) default to 0..T-1. With a cache, the new tokens' entries are written at their
        positions and attention covers every cached token; without one, the call is a self-contained prefill."""
        b, t = input_ids.shape
        if positions is None:
            positions = torch.arange(t, device=input_ids.device)
        positions = positions.to(input_ids.device).expand(b, t)
        x = self.model.embed_tokens(input_ids)
        for block in self.model.layers:
            x = block(x, positions, self.rope, cache, absorb)
        return self.lm_head(self.model.norm(x)).float()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # a tied lm_head is counted once
