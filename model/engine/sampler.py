"""Choosing the next token from the last position's logits, per sequence.

temperature 0 is greedy (argmax). Otherwise: logits / temperature, keep the top_k largest (if set), keep the
smallest set of tokens whose probability reaches top_p (if below 1), renormalize and draw. A sequence with a seed
draws from its own generator, so its tokens do not depend on what else is in the batch.
"""
from __future__ import annotations

import torch

from model.engine.sequence import Sequence


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """logits [V] -> logits with the excluded tokens at -inf."""
    if top_k and top_k < logits.shape[-1]:
        kth = logits.topk(top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # probability mass strictly above each token
        drop = before >= top_p
        drop[0] = False
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    return logits


def sample(logits: torch.Tensor, seqs: list[Sequence]) -> list[int]:
    """logits [B, V] float32, one row per sequence -> one token id per sequence."""
    greedy = logits.argmax(dim=-1).tolist()
    out = []
    for row, seq, best in zip(logits, seqs, greedy):
        s = seq.sampling
        if s.temperature == 0:
            out.append(best)
            continue
        probs = filter_logits(row / s.temperature, s.top_k, s.top_p).softmax(-1)
        out.append(int(torch.multinomial(probs, 1, generator=seq.generator)))
    return out
