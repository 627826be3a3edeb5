"""`proofloop bench structured`: what grammar-constrained decoding costs per token on the local engine.

The same requests (the generator's prompt, the built-in draft shape) run free and constrained on one engine,
alternating, `repeats` times; each side's time per generated token gives the overhead of the token masks and
matcher updates (both sides run every request to the same length). The shape's grammar is compiled once
before timing (compiled grammars are cached per engine).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import replace

from model.backends.backend import Request, Sampling


def run(model: str | None, batch: int, tokens: int, repeats: int) -> dict:
    from model.backends.choose import local_backend
    from verifier.shapes import draft_shape

    backend = local_backend(model)
    ask = ({"role": "user", "content": "Prove that the sum of two odd integers is even."},)
    free = Sampling(temperature=0.7, max_tokens=tokens)
    # the shape without its closings never ends early: both sides decode every request to `tokens`, so the batch
    # stays the same size and the difference is the masks and matcher updates alone (not answers of other lengths)
    shaped = replace(free, structure=replace(draft_shape(), closings=()))

    def per_token(sampling: Sampling, round_: int) -> float:
        requests = [Request(ask, replace(sampling, seed=round_ * batch + i)) for i in range(batch)]
        start = time.perf_counter()
        done = backend.generate(requests)
        seconds = time.perf_counter() - start
        return seconds / max(1, sum(c.completion_tokens for c in done))

    per_token(shaped, -1)  # compiles the grammar and warms both paths
    per_token(free, -1)
    ratios, free_ms, shaped_ms = [], [], []
    for r in range(repeats):
        f, s = per_token(free, r), per_token(shaped, r)
        free_ms.append(f * 1e3)
        shaped_ms.append(s * 1e3)
        ratios.append(s / f)
    stats = lambda xs: {"min": round(min(xs), 3), "median": round(statistics.median(xs), 3),  # noqa: E731
                        "max": round(max(xs), 3)}
    return {"model": backend.name, "batch": batch, "tokens": tokens, "repeats": repeats,
            "free_ms_per_token": stats(free_ms), "structured_ms_per_token": stats(shaped_ms),
            "ratio": stats(ratios), "overhead_pct_median": round((statistics.median(ratios) - 1) * 100, 1)}


def render(r: dict) -> str:
    f, s, q = r["free_ms_per_token"], r["structured_ms_per_token"], r["ratio"]
    return "\n".join([
        f"{r['model']}: batch {r['batch']}, {r['tokens']} tokens, {r['repeats']} repeats (min / median / max)",
        f"free        {f['min']} / {f['median']} / {f['max']} ms per token",
        f"structured  {s['min']} / {s['median']} / {s['max']} ms per token",
        f"ratio       {q['min']} / {q['median']} / {q['max']}  (overhead {r['overhead_pct_median']}% at the median; "
        "goal <= 10%)"])
