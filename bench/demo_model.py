"""`proofloop bench demo-model`: is a candidate embedded model good enough to show the product working?

On the bundled easy set (each problem holds a correct proof and one with a planted error) it measures, with the
project's own prompts: the share of drafts, verifications and meta-verifications that parse, with structured
outputs and without; the verifier's mean score on the correct vs the planted-error proofs; load time, resident
memory and decode speed. One model per run (RSS is the process's own); compare candidates by running it on each.
"""
from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ledger.calls import CallRunner
from ledger.sampling import CallSampling
from model.backends.backend import Completion, Request, Sampling
from prover.draft import parse_draft
from prover.search import PROMPTS
from verifier.grading import Grader
from verifier.parse import parse_meta, parse_verification
from verifier.prompts import Templates
from verifier.steps import segment

SET = "easy"


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def flawed_proofs() -> dict[str, str]:
    """Problem id -> its planted-error proof (a field the problem loader does not read)."""
    from problems.sets import DATA

    rows = json.loads((DATA / "easy.json").read_text())
    return {f"{SET}/{row['id'].removeprefix('easy-')}": row["flawed_solution"] for row in rows}


def run(model: str | None, samples: int, max_tokens: int, problems: int, temperature: float = 0.6,
        progress: Callable[[str], None] | None = None) -> dict:
    from model.backends.local import LocalBackend, demo_checkpoint
    from problems.sets import load_set

    say = progress or (lambda message: None)
    say("loading the model")
    start = time.perf_counter()
    backend = LocalBackend.from_path(demo_checkpoint() if model in (None, "demo") else model)
    load_s = time.perf_counter() - start
    result: dict = {"model": backend.name, "load_s": round(load_s, 1), "rss_mb_loaded": round(rss_mb())}

    say("decode speed")
    speed_request = Request(messages=({"role": "user", "content": "Explain why 7 is prime."},),
                            sampling=Sampling(temperature=0.0, max_tokens=64))
    start = time.perf_counter()
    done = backend.generate([speed_request])[0]
    result["decode_tok_s_batch1"] = round(done.completion_tokens / (time.perf_counter() - start), 2)

    chosen = load_set(SET)[:problems]
    flawed = flawed_proofs()
    templates = Templates().extended(PROMPTS)
    for structured in (True, False):
        mode = "structured" if structured else "free"
        sampling = CallSampling(temperature, 1.0, max_tokens, seed=1)
        grader = Grader(templates, sampling, CallRunner(backend, None, SET), structured=structured)
        say(f"{mode}: drafts")
        drafts = _generate(backend, [_draft_request(templates, sampling, structured, p, k)
                                     for p in chosen for k in range(samples)])
        draft_ok = [parse_draft(c).status == "ok" for c in drafts]
        say(f"{mode}: verifications")
        subjects = [(p, kind, text) for p in chosen
                    for kind, text in (("correct", p.reference_solution or ""), ("flawed", flawed[p.id]))]
        keys = [(p, kind, text, k) for p, kind, text in subjects for k in range(samples)]
        requests = [grader.verify_request(f"{p.id}/{kind}/verify/{k}", p, text) for p, kind, text, k in keys]
        answers = _generate(backend, requests)
        verifications = [parse_verification(c, segment(text)) for c, (_, _, text, _) in zip(answers, keys)]
        scores: dict[str, list[float]] = {"correct": [], "flawed": []}
        for v, (_, kind, _, _) in zip(verifications, keys):
            if v.score is not None:
                scores[kind].append(v.score)
        say(f"{mode}: meta-verifications")
        targets = [(key, v) for key, v in zip(keys, verifications) if v.issues]
        metas = _generate(backend, [grader.meta_request(f"{p.id}/{kind}/meta/{k}", p, text, v.analysis,
                                                        len(v.issues)) for (p, kind, text, k), v in targets])
        meta_ok = [parse_meta(c)[0] is not None for c in metas]
        result[mode] = {
            "drafts_parsed": _share(draft_ok),
            "verifications_parsed": _share([v.status == "ok" for v in verifications]),
            "meta_parsed": _share(meta_ok),
            "verifications_with_issues": len(targets),
            "mean_score_correct": _mean(scores["correct"]),
            "mean_score_flawed": _mean(scores["flawed"]),
            "tokens": sum(c.completion_tokens for c in drafts) + sum(c.completion_tokens for c in answers),
        }
    result["rss_mb_peak"] = round(_peak_rss_mb())
    result["settings"] = {"problems": len(chosen), "samples": samples, "max_tokens": max_tokens,
                          "temperature": temperature}
    return result


def _draft_request(templates: Templates, sampling: CallSampling, structured: bool, problem, k: int) -> Request:
    from dataclasses import replace

    from verifier.shapes import draft_shape

    s = sampling.for_key(f"{problem.id}/generate/{k}")
    if structured:
        s = replace(s, structure=draft_shape())
    return templates.request("generate", s, problem=problem.statement)


def _generate(backend, requests: list[Request]) -> list[Completion]:
    return backend.generate(requests) if requests else []


def _share(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)}"


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render(r: dict) -> str:
    lines = [f"{r['model']}: load {r['load_s']} s, RSS {r['rss_mb_loaded']} MB loaded / {r['rss_mb_peak']} MB peak, "
             f"decode {r['decode_tok_s_batch1']} tok/s at batch 1",
             f"settings: {r['settings']}",
             f"{'':12} {'drafts':>8} {'verifs':>8} {'meta':>8} {'correct':>8} {'flawed':>8}"]
    for mode in ("structured", "free"):
        m = r[mode]
        lines.append(f"{mode:12} {m['drafts_parsed']:>8} {m['verifications_parsed']:>8} {m['meta_parsed']:>8} "
                     f"{m['mean_score_correct']!s:>8} {m['mean_score_flawed']!s:>8}")
    lines.append("parsed shares; correct / flawed: the verifier's mean score on the reference vs the planted-error "
                 "proofs (separation wanted)")
    return "\n".join(lines)
