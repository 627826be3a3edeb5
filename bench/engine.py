"""`proofloop bench engine`: decode tokens/s of our engine against transformers' `generate`, same checkpoint, same
dtype, same run; and the prefill work saved by the prefix cache on requests that share a long prefix.

Decode speed is measured the same way for both: tokens generated after every sequence of the batch has its first
token (the prefill is not counted), over the time they took; fresh prompts of the same length for every run, so
neither side is helped by a cache. Greedy decoding, no end-of-sequence stop; the best of `repeats` runs.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch


def _prompts(batch: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(10, vocab, (batch, length), generator=gen).tolist()


def _ours(engine, prompts: list[list[int]], n: int) -> tuple[int, float]:
    """(decode tokens, seconds) from the step where every sequence has its first token to the end."""
    from model.engine.sequence import SamplingParams

    seqs = [engine.add(p, SamplingParams(temperature=0, max_tokens=n, ignore_eos=True)) for p in prompts]
    while not all(s.output for s in seqs):
        engine.step()
    done, start = sum(len(s.output) for s in seqs), time.perf_counter()
    while not all(s.is_finished for s in seqs):
        engine.step()
    return sum(len(s.output) for s in seqs) - done, time.perf_counter() - start


def _theirs(hf, prompts: list[list[int]], n: int) -> tuple[int, float]:
    """(decode tokens, seconds) between generate's first and last call of the logits processors."""
    from transformers import LogitsProcessor, LogitsProcessorList

    stamps: list[float] = []

    class Clock(LogitsProcessor):
        def __call__(self, input_ids, scores):
            stamps.append(time.perf_counter())
            return scores

    ids = torch.tensor(prompts)
    with torch.inference_mode():
        hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                    pad_token_id=0, logits_processor=LogitsProcessorList([Clock()]))
    return len(prompts) * (len(stamps) - 1), stamps[-1] - stamps[0]


def decode_rates(ours, theirs, batch: int, prompt_len: int, tokens: int, vocab: int, seed: int,
                 repeats: int) -> tuple[float, float]:
    """Best tokens/s of each side over `repeats` rounds, the two sides taking turns within a round on the same fresh
    prompts: on a CPU shared with other work both then see the same load, and the best run is the least disturbed."""
    best = [0.0, 0.0]
    for r in range(repeats):
        prompts = _prompts(batch, prompt_len, vocab, seed + r)
        for side, measure in enumerate((ours, theirs)):
            n, seconds = measure(prompts, tokens)
            best[side] = max(best[side], n / max(seconds, 1e-9))
    return best[0], best[1]


def prefix_sharing(engine, prefix_len: int = 512, requests: int = 16, suffix_len: int = 16) -> dict:
    """Prefill tokens the engine computed for `requests` prompts sharing a prefix, against prefix + suffixes."""
    vocab = engine.model.config.vocab_size
    prefix = _prompts(1, prefix_len, vocab, 1234)[0]
    suffixes = _prompts(requests, suffix_len, vocab, 4321)
    from model.engine.sequence import SamplingParams

    before = engine.prefill_tokens
    outs = engine.generate([prefix + s for s in suffixes], SamplingParams(temperature=0, max_tokens=1, ignore_eos=True))
    computed = engine.prefill_tokens - before
    ideal = prefix_len + requests * suffix_len
    return {"requests": requests, "prefix": prefix_len, "suffix": suffix_len, "computed": computed, "ideal": ideal,
            "ratio": computed / ideal, "cached_tokens": sum(o.cached_tokens for o in outs)}


def run(model: str | Path | None = None, batches: tuple[int, ...] = (1, 16), tokens: int = 32,
        prompt_len: int = 64, repeats: int = 3, threads: int | None = None, progress=None) -> dict:
    """threads: CPU threads for both sides (on a CPU shared with other work, 1 avoids threads waiting on each
    other)."""
    from transformers import AutoModelForCausalLM

    from model.backends.local import demo_checkpoint
    from model.engine.engine import Engine

    if threads:
        torch.set_num_threads(threads)
    path = Path(model) if model else demo_checkpoint()
    say = progress or (lambda msg: None)
    say("loading the checkpoint")
    engine = Engine(path, max_batch=max(batches), cache_gb=1.0)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=engine.dtype).eval()
    vocab = engine.model.config.vocab_size
    _ours(engine, _prompts(2, 8, vocab, 0), 3)  # warm-up: first calls pay for allocation and kernel selection
    _theirs(hf, _prompts(2, 8, vocab, 0), 3)
    rows = []
    for i, batch in enumerate(batches):
        say(f"batch {batch}: our engine and transformers generate, taking turns")
        ours, theirs = decode_rates(lambda p, n: _ours(engine, p, n), lambda p, n: _theirs(hf, p, n), batch,
                                    prompt_len, tokens, vocab, 100 + 10 * i, repeats)
        rows.append({"batch": batch, "ours_tok_s": ours, "transformers_tok_s": theirs, "ratio": ours / theirs})
    say("prefix sharing")
    shared = prefix_sharing(engine)
    return {"model": str(path), "dtype": str(engine.dtype).removeprefix("torch."), "device": str(engine.device),
            "threads": torch.get_num_threads(), "tokens": tokens, "prompt_len": prompt_len, "decode": rows,
            "prefix_sharing": shared}


def render(result: dict) -> str:
    threads = f"{result['threads']} thread{'s' * (result['threads'] != 1)}"
    lines = [f"{Path(result['model']).name}  {result['dtype']} on {result['device']} ({threads}), "
             f"prompts of {result['prompt_len']} tokens, {result['tokens']} new tokens each"]
    lines.append(f"{'batch':>5}  {'ours tok/s':>11}  {'transformers tok/s':>18}  {'ratio':>6}")
    for r in result["decode"]:
        lines.append(f"{r['batch']:>5}  {r['ours_tok_s']:>11.1f}  {r['transformers_tok_s']:>18.1f}  "
                     f"{r['ratio']:>5.2f}x")
    p = result["prefix_sharing"]
    lines.append(f"prefix cache: {p['requests']} requests sharing a {p['prefix']}-token prefix (+{p['suffix']} each): "
                 f"{p['computed']} prefill tokens computed vs {p['ideal']} (prefix + suffixes) = {p['ratio']:.2f}x")
    return "\n".join(lines)
