"""A decode-friendly forward for dense GQA models (Llama, Qwen2), the same math as gqa.py + mlp.py.

What it changes, for speed only: q/k/v are one matmul and gate/up another (weights concatenated once, packed for the
CPU GEMMs, cpu_linear.py), RoPE angles are computed once per step instead of once per layer, and attention runs
through `scaled_dot_product_attention` on the paged cache's gathered keys. A decode step on CPU goes through C++ ops
instead: RoPE, the cache write and attention that reads the cache in place in one call
(kernels/cpu/paged_attention.cpp), and the residual adds fused into the norms (kernels/cpu/layer_ops.cpp). The norms
and the other weights are the model's own modules. Parity with transformers is tested through the engine.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels.cpu import build, paged_attention as paged_attention_cpu
from model.layers.cpu_linear import PackedLinear


def _fused(linears: list[nn.Linear], batch_hint: int, pack: bool) -> nn.Module:  # an nn.Linear or its packed form
    weight = torch.cat([lin.weight.detach() for lin in linears])
    start = 0
    for lin in linears:  # the model's own linears become views of the fused weight: one copy in memory, not two
        rows = lin.weight.shape[0]
        lin.weight = nn.Parameter(weight[start:start + rows], requires_grad=False)
        start += rows
    has_bias = any(lin.bias is not None for lin in linears)
    fused = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias, device="meta")
    fused.weight = nn.Parameter(weight, requires_grad=False)
    if has_bias:
        fused.bias = nn.Parameter(torch.cat([lin.bias.detach() if lin.bias is not None else
                                             torch.zeros(lin.out_features, dtype=weight.dtype, device=weight.device)
                                             for lin in linears]), requires_grad=False)
    return PackedLinear(fused, batch_hint) if pack else fused


def rotate_half_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """NeoX RoPE: the first and second halves of each head form the rotated pairs."""
    x0, x1 = x.float().chunk(2, dim=-1)
    return torch.cat((x0 * cos - x1 * sin, x1 * cos + x0 * sin), dim=-1).to(x.dtype)


class FastGQA:
    def __init__(self, model, batch_hint: int, pack: bool):
        self.model = model
        self.layers = []
        self.replaced: set[int] = set()  # id() of the model's linears this path no longer calls
        for block in model.model.layers:
            attn, mlp = block.self_attn, block.mlp
            self.replaced |= {id(m) for m in (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj)}
            qkv = _fused([attn.q_proj, attn.k_proj, attn.v_proj], batch_hint, pack)
            gate_up = _fused([mlp.gate_proj, mlp.up_proj], batch_hint, pack)
            self.layers.append((block, qkv, gate_up))
        attn = model.model.layers[0].self_attn
        self.n_heads, self.n_kv_heads, self.head_dim = attn.n_heads, attn.n_kv_heads, attn.head_dim
        weight = attn.o_proj.weight
        # decode on CPU: the C++ ops (RoPE + cache write + attention in place, fused norms); else the torch path
        self.ops = build.module() if paged_attention_cpu.usable(weight.device, weight.dtype) else None
        # per layer, the bound forwards `hidden` calls; built on first use, after the engine packs
        self.calls: list[tuple] | None = None

    def _calls(self) -> list[tuple]:
        """Bound forwards, looked up once: module attribute lookups and __call__ dispatch were ~1 ms a step."""
        if self.calls is None:
            self.calls = [(block.input_layernorm.forward, qkv.forward, block.self_attn.o_proj.forward,
                           block.post_attention_layernorm.forward, gate_up.forward,
                           block.mlp.down_proj.forward) for block, qkv, gate_up in self.layers]
        return self.calls

    @staticmethod
    def supports(model) -> bool:
        if model.config.attention_kind != "gqa":
            return False
        block = model.model.layers[0]
        return all(hasattr(block.self_attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj", "n_heads")) and \
            all(hasattr(block.mlp, n) for n in ("gate_proj", "up_proj", "down_proj"))

    def hidden(self, input_ids: torch.Tensor, positions: torch.Tensor, cache) -> torch.Tensor:
        """input_ids, positions [B, T] -> final hidden states before the last norm, [B, T, hidden]."""
        b, t = input_ids.shape
        if t == 1 and self.ops is not None:
            return self._decode_native(input_ids, positions, cache)
        h, kv, d = self.n_heads, self.n_kv_heads, self.head_dim
        cos, sin = self.model.rope(positions)
        cos, sin = cos[:, :, None], sin[:, :, None]
        x = self.model.model.embed_tokens(input_ids)
        mask = None
        for layer, (norm1, qkv, o_proj, norm2, gate_up, down) in enumerate(self._calls()):
            qk, v = qkv(norm1(x)).split([(h + kv) * d, kv * d], dim=-1)
            q, k = rotate_half_pairs(qk.view(b, t, h + kv, d), cos, sin).split([h, kv], dim=2)  # one RoPE for both
            entries = cache.update(layer, positions, k=k, v=v.view(b, t, kv, d))
            keys, values = entries["k"], entries["v"]
            if mask is None:
                mask = torch.arange(keys.shape[1], device=x.device) <= positions[:, :, None]  # [B, T, S]
                mask = mask[:, None]
            out = F.scaled_dot_product_attention(q.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2),
                                                 attn_mask=mask, enable_gqa=True).transpose(1, 2)
            x = x + o_proj(out.reshape(b, t, h * d))
            gate, up = gate_up(norm2(x)).chunk(2, dim=-1)
            x = x + down(F.silu(gate) * up)
        return x

    def _decode_native(self, input_ids: torch.Tensor, positions: torch.Tensor, cache) -> torch.Tensor:
        """A decode step (T = 1) with everything between the GEMMs in three fused C++ calls a layer."""
        b = input_ids.shape[0]
        ops = self.ops
        assert ops is not None  # hidden() takes this path only with the C++ ops
        cos, sin = (c.reshape(b, -1).contiguous() for c in self.model.rope(positions))
        blocks, lens = cache.read_blocks.view(b, -1), positions[:, 0] + 1
        x = self.model.model.embed_tokens(input_ids).view(b, -1).contiguous()  # the residual stream, updated in place
        delta = None  # the last layer's MLP output, not yet added to x
        for layer, (block, qkv, gate_up) in enumerate(self.layers):
            norm1, norm2, attn = block.input_layernorm, block.post_attention_layernorm, block.self_attn
            kpool, vpool = (cache.pools[layer][name].view(-1, self.n_kv_heads, self.head_dim) for name in ("k", "v"))
            normed = ops.add_rms_norm_(x, delta, norm1.weight, norm1.eps)
            out = ops.rope_store_decode(qkv(normed), cos, sin, kpool, vpool, cache.write_slots, blocks, lens,
                                        cache.block_size, attn.softmax_scale, self.n_heads)
            normed = ops.add_rms_norm_(x, attn.o_proj(out), norm2.weight, norm2.eps)
            delta = block.mlp.down_proj(ops.silu_mul(gate_up(normed)))
        return (x + delta).view(b, 1, -1)
