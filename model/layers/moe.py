"""DeepSeekMoE: shared experts that see every token, plus routed experts of which each token uses the top k.

Routing (Gate), per token, from logits = x @ gate.weight^T in float32:
- scores: softmax (V2) or sigmoid (V3, V3.2) of the logits;
- greedy: top k of the scores;
- group_limited_greedy (V2): keep the `topk_group` groups with the highest max score, then top k within them;
- noaux_tc (V3, V3.2): choose with biased scores s + e_score_correction_bias: rank the `n_group` groups by the sum of
  their two best biased scores, keep `topk_group`, take the top k experts among them; the weights are the *unbiased*
  scores of the chosen experts.
Weights are normalized to sum 1 when `norm_topk_prob`, then multiplied by `routed_scaling_factor`.

The routed experts run as one kernels.fused_moe call (Triton on CUDA) over their weights stacked once, after loading,
into w13 [E, 2 * moe_intermediate_size, hidden] (gate_proj over up_proj) and w2 [E, hidden, moe_intermediate_size]
(down_proj); each expert's own weights become views into them, so nothing is held twice. Experts whose FP8 weights
are kept (FP8Linear) cannot be stacked and run one by one.
"""
from __future__ import annotations

from typing import cast

import torch
from torch import nn

import kernels
from model.config import ModelConfig
from model.layers.mlp import MLP


class Gate(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.top_k, self.n_experts = cfg.num_experts_per_tok, cfg.n_routed_experts
        self.n_group, self.topk_group = cfg.n_group, cfg.topk_group
        self.scoring_func, self.topk_method = cfg.scoring_func, cfg.topk_method
        self.norm_topk_prob, self.routed_scaling_factor = cfg.norm_topk_prob, cfg.routed_scaling_factor
        self.weight = nn.Parameter(torch.empty(self.n_experts, cfg.hidden_size))
        if self.topk_method == "noaux_tc":
            self.register_buffer("e_score_correction_bias", torch.zeros(self.n_experts, dtype=torch.float32))
        else:
            self.e_score_correction_bias = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, hidden] -> (weights [N, k] float32, expert indices [N, k])."""
        logits = x.float() @ self.weight.float().t()
        scores = logits.softmax(dim=-1) if self.scoring_func == "softmax" else logits.sigmoid()
        choice = scores
        if self.e_score_correction_bias is not None:
            choice = scores + self.e_score_correction_bias.float()
        if self.topk_method in ("noaux_tc", "group_limited_greedy") and self.n_group > 1:
            grouped = choice.view(-1, self.n_group, self.n_experts // self.n_group)
            if self.topk_method == "noaux_tc":
                group_scores = grouped.topk(2, dim=-1).values.sum(dim=-1)
            else:
                group_scores = grouped.amax(dim=-1)
            keep = group_scores.topk(self.topk_group, dim=-1).indices
            group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, keep, True)
            fill = float("-inf") if self.topk_method == "noaux_tc" else 0.0
            choice = grouped.masked_fill(~group_mask[..., None], fill).flatten(1)
        indices = choice.topk(self.top_k, dim=-1).indices
        weights = scores.gather(1, indices)
        if self.norm_topk_prob and self.top_k > 1:
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
        return weights * self.routed_scaling_factor, indices


class MoE(nn.Module):
    w13: torch.Tensor | None  # buffers, None until stack_experts
    w2: torch.Tensor | None

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate = Gate(cfg)
        self.experts = nn.ModuleList(MLP(cfg.hidden_size, cfg.moe_intermediate_size)
                                     for _ in range(cfg.n_routed_experts))
        self.shared_experts = (MLP(cfg.hidden_size, cfg.moe_intermediate_size * cfg.n_shared_experts)
                               if cfg.n_shared_experts else None)
        self.register_buffer("w13", None, persistent=False)  # set by stack_experts
        self.register_buffer("w2", None, persistent=False)

    @torch.no_grad()
    def stack_experts(self) -> bool:
        """Move the routed experts' weights into w13 and w2, one expert at a time (the experts keep views).
        False, and nothing changes, when an expert's projections are not plain nn.Linear layers."""
        experts = cast(list[MLP], list(self.experts))  # ModuleList items are typed as plain Modules
        projections = [(e.gate_proj, e.up_proj, e.down_proj) for e in experts]
        if not all(type(p) is nn.Linear for ps in projections for p in ps):
            return False
        inter, hidden = experts[0].gate_proj.weight.shape
        like = experts[0].gate_proj.weight
        w13 = like.new_empty(len(self.experts), 2 * inter, hidden)
        w2 = like.new_empty(len(self.experts), hidden, inter)
        for i, (gate_proj, up_proj, down_proj) in enumerate(projections):
            w13[i, :inter], w13[i, inter:], w2[i] = gate_proj.weight, up_proj.weight, down_proj.weight
            gate_proj.weight = nn.Parameter(w13[i, :inter], requires_grad=False)
            up_proj.weight = nn.Parameter(w13[i, inter:], requires_grad=False)
            down_proj.weight = nn.Parameter(w2[i], requires_grad=False)
        self.w13, self.w2 = w13, w2
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        weights, indices = self.gate(x)
        if self.w13 is not None:
            out = kernels.fused_moe(x, self.w13, self.w2, indices, weights)
        else:
            out = torch.zeros_like(x)
            for e in indices.unique().tolist():
                token, slot = (indices == e).nonzero(as_tuple=True)
                y = self.experts[e](x[token]) * weights[token, slot, None].to(x.dtype)
                out.index_add_(0, token, y)
        if self.shared_experts is not None:
            out = out + self.shared_experts(x)
        return out.view(shape)
