"""Choosing the next token from the last position's logits, per sequence.

temperature 0 is greedy (argmax), and so is any temperature below MIN_TEMPERATURE: dividing by it would overflow the
logits to inf and the softmax to NaN. Otherwise: logits / temperature, keep the top_k largest (if set), keep the
smallest set of tokens whose probability reaches top_p (if below 1), renormalize and draw. A sequence with a seed
draws from its own generator, so its tokens do not depend on what else is in the batch. Logits that are not finite
(NaN from an overflow upstream) never reach torch.multinomial, which would raise and stop the engine: NaN counts as
excluded, and a row with nothing left to draw from falls back to its greedy token.
"""
from __future__ import annotations

import torch

from model.engine.sequence import Sequence

MIN_TEMPERATURE = 1e-4  # below this, sampling is greedy; logits of any float32 model stay finite divided by it


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
    logits = logits.nan_to_num(nan=float("-inf"))
    greedy = logits.argmax(dim=-1).tolist()
    out = []
    for row, seq, best in zip(logits, seqs, greedy):
        s = seq.sampling
        if not s.temperature >= MIN_TEMPERATURE:  # also NaN, should a caller skip the checks
            out.append(best)
            continue
        probs = filter_logits(row / s.temperature, s.top_k, s.top_p).softmax(-1)
        if not bool(torch.isfinite(probs).all()) or not float(probs.sum()) > 0:
            out.append(best)  # an all -inf row (or overflow): nothing to draw from
            continue
        out.append(int(torch.multinomial(probs, 1, generator=seq.generator)))
    return out
