"""The built-in answer shapes through the real engine, on a tiny random qwen2 model whose byte-level tokenizer can
spell any text: whatever the random weights sample, every constrained draft, verification and meta-verification is
read by the parsers (many seeds), and a verifier's quotes are sentences of the proof it graded."""
from __future__ import annotations

import pytest
from tiny_gguf import write_tiny_qwen2

from model.backends.backend import Request, Sampling
from model.backends.local import LocalBackend
from model.engine.engine import Engine
from model.gguf_import import convert
from prover.draft import parse_draft
from verifier.parse import parse_meta, parse_verification
from verifier.shapes import draft_shape, meta_shape, verify_shape
from verifier.steps import segment

SEEDS = range(12)
# the random weights spell text byte by byte, up to 4 tokens a character: the closings are sized for that here
CHARS_PER_TOKEN = 0.25
FREE_TOKENS = 64  # tokens of free text before the closing starts
PROOF = segment("Let a = 2m + 1 and b = 2n + 1. Then a + b = 2(m + n + 1). Hence the sum is even, as claimed.")
ASK = ({"role": "user", "content": "the theorem"},)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = write_tiny_qwen2(tmp_path_factory.mktemp("gguf") / "tiny-qwen2.gguf", seed=1)
    return convert(path, tmp_path_factory.mktemp("converted") / "tiny-qwen2")


@pytest.fixture(scope="module")
def backend(checkpoint):
    return LocalBackend(Engine(checkpoint, block_size=16, cache_gb=0.2))


def shaped(structure, seed):
    budget = structure.closing_tokens + FREE_TOKENS
    return Request(ASK, Sampling(temperature=1.0, max_tokens=budget, seed=seed, structure=structure))


def test_every_constrained_answer_parses(backend):
    """Each answer runs free until its tokens run low, then ends under a closing: it stops (not at the length
    limit) and parses."""
    n_issues = 2
    requests = [shaped(shape, s) for s in SEEDS for shape in (
        draft_shape(CHARS_PER_TOKEN), verify_shape(PROOF, chars_per_token=CHARS_PER_TOKEN),
        meta_shape(n_issues, CHARS_PER_TOKEN))]
    out = backend.generate(requests)
    quotes = set()
    for i in range(0, len(out), 3):
        draft, verification, meta = out[i:i + 3]
        assert all(c.finish_reason == "stop" for c in (draft, verification, meta)), [c.error for c in out[i:i + 3]]
        d = parse_draft(draft)
        assert d.status == "ok" and d.self_score in (0, 0.5, 1) and d.proof, draft.text
        v = parse_verification(verification, PROOF)
        assert v.status == "ok" and v.score in (0, 0.5, 1), verification.text
        for issue in v.issues:
            assert issue.step is not None, (issue, verification.text)  # pinned to a step of the proof
            quotes.add(issue.quote)
        rating, verdicts, status = parse_meta(meta)
        assert rating in (0, 0.5, 1) and sorted(verdicts) == [1, 2], meta.text
    assert quotes, "no seed raised an issue: the quotes went untested"


def bench(*args):
    import json

    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_bench_structured_times_both_sides(checkpoint):
    r = bench("structured", "--model", str(checkpoint), "--batch", "2", "--tokens", "48", "--repeats", "2")
    assert r["ratio"]["min"] > 0 and r["free_ms_per_token"]["median"] > 0 and r["repeats"] == 2


def test_bench_demo_model_reads_every_stage(checkpoint):
    r = bench("demo-model", "--model", str(checkpoint), "--samples", "1", "--problems", "1", "--max-tokens", "48")
    # 48 tokens cannot hold a whole shape spelled byte by byte, so what parses varies; what was asked is counted
    assert r["structured"]["drafts_parsed"].endswith("/1") and r["free"]["verifications_parsed"].endswith("/2")
    assert r["settings"]["problems"] == 1 and r["decode_tok_s_batch1"] > 0


def test_near_the_end_of_its_tokens_a_shaped_answer_switches_to_a_closing(backend):
    from model.backends.backend import Completion
    from model.backends.local import sampling_params

    engine = backend.engine
    structure = draft_shape(CHARS_PER_TOKEN)
    prompt = backend.chat.encode(list(ASK))
    seqs = [engine.add(prompt, sampling_params(shaped(structure, seed).sampling)) for seed in range(4)]
    while not all(s.is_finished for s in seqs):
        engine.step()
    for seq in seqs:
        assert seq.closing and seq.finish_reason == "stop", (seq.error, seq.text)
        assert FREE_TOKENS <= len(seq.output) <= structure.closing_tokens + FREE_TOKENS
        assert parse_draft(Completion(seq.text)).status == "ok", seq.text


def test_closings_sized_for_real_text_still_end_in_shape_when_every_token_is_one_byte(backend):
    """The default closings assume 2.5 characters a token; this model writes one byte a token (or less), so the
    short tails overrun, and the bare ending (sized at a token a byte) must take over: every answer stops and
    parses."""
    shapes = (draft_shape(), verify_shape(PROOF), meta_shape(2))
    requests = [shaped(shape, s) for s in range(6) for shape in shapes]
    out = backend.generate(requests)
    for i in range(0, len(out), 3):
        draft, verification, meta = out[i:i + 3]
        unfinished = [(c.finish_reason, c.error, c.text[-300:]) for c in (draft, verification, meta)
                      if c.finish_reason != "stop"]
        assert not unfinished, unfinished
        assert parse_draft(draft).status == "ok", draft.text
        assert parse_verification(verification, PROOF).status == "ok", verification.text
        assert parse_meta(meta)[0] in (0, 0.5, 1), meta.text
