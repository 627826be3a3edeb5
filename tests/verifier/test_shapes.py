"""Answer shapes: every text a shape allows parses exactly, JSON answers read back, and the grader asks for them
only when structured outputs are on and the template is a built-in one."""
from __future__ import annotations

import json
import random

import pytest

from ledger.calls import CallRunner
from ledger.sampling import CallSampling
from model.backends.backend import Completion
from problems.problem import Problem
from prover.draft import parse_draft
from verifier.grading import Grader
from verifier.parse import parse_meta, parse_verification
from verifier.prompts import Templates
from verifier.shapes import (
    MAX_ISSUES,
    QUOTE_CHARS,
    SCORES,
    SEVERITIES,
    answer_text,
    draft_shape,
    meta_shape,
    proof_sentences,
    verify_shape,
)
from verifier.steps import segment

PROOF = segment("Let $n \\ge 3$ be odd. Then $n^2 - 1 = (n-1)(n+1)$.\n\nBoth factors are even, so 8 divides it.\n\n"
                'He wrote "so" twice; hence $2 + 2 = 5$ and we are done.')
PROBLEM = Problem(id="t/1", statement="Show that 8 divides n^2 - 1 for odd n.")
FREE = "abc $x^2$ \\frac{1}{2} (ok) [see] {braces} -- dashes, commas; newline\nsecond line. "


def _free(rng: random.Random, one_line: bool = False) -> str:
    text = "".join(rng.choice(FREE) for _ in range(rng.randint(3, 120))).strip() or "x"
    return " ".join(text.split()) if one_line else text


def _verify_text(rng: random.Random, quotes: list[str]) -> tuple[str, list[tuple[str, str]], str]:
    issues = [(rng.choice(SEVERITIES), rng.choice(quotes)) for _ in range(rng.randint(0, 4))]
    lines = "".join(f'- [{s}] "{q}" : {_free(rng, True)}\n' for s, q in issues) or "None\n"
    score = rng.choice(SCORES)
    return (f"## Analysis\n{_free(rng)}\n\n## Issues\n{lines}\n## Score\n{_free(rng)}\nFinal score: \\boxed{{{score}}}",
            issues, score)


@pytest.mark.parametrize("seed", range(40))
def test_every_verification_of_the_shape_parses_exactly(seed):
    rng = random.Random(seed)
    text, issues, score = _verify_text(rng, proof_sentences(PROOF))
    v = parse_verification(Completion(text), PROOF)
    assert v.status == "ok" and v.score == float(score)
    assert [(i.severity, i.quote) for i in v.issues] == issues
    assert all(i.step is not None for i in v.issues), "a quote of the shape is a sentence of the proof: it anchors"
    assert v.issues_status == ("found" if issues else "none_found")


@pytest.mark.parametrize("seed", range(20))
def test_every_draft_and_meta_of_the_shape_parses_exactly(seed):
    rng = random.Random(seed)
    proof, score = _free(rng), rng.choice(SCORES)
    draft = parse_draft(Completion(f"## Solution\n{proof}\n\n## Self Evaluation\n{_free(rng)}\n"
                                   f"Final score: \\boxed{{{score}}}"))
    assert draft.status == "ok" and draft.self_score == float(score) and draft.proof == proof.strip()
    verdicts = [rng.random() < 0.5 for _ in range(rng.randint(1, 4))]
    rating = rng.choice(SCORES)
    meta = "".join(f"Issue {k}: {'valid' if ok else 'invalid'} - {_free(rng, True)}\n"
                   for k, ok in enumerate(verdicts, start=1)) + f"\nFinal rating: \\boxed{{{rating}}}"
    got_rating, got, status = parse_meta(Completion(meta))
    assert status == "ok" and got_rating == float(rating)
    assert got == {k: ok for k, ok in enumerate(verdicts, start=1)}


def test_quotes_offered_are_proof_sentences_without_double_quotes():
    quotes = proof_sentences(PROOF)
    assert quotes and all('"' not in q and q in " ".join(PROOF.text.split()) for q in quotes)
    assert "He wrote" in quotes  # cut before the quote mark, still a prefix of the sentence


def _upper(ebnf: str) -> dict[str, int]:
    """Each free-text rule's most characters: `name ::= [...]{m,n}` -> n."""
    return {line.split(" ::= ")[0]: int(line.rsplit(",", 1)[1].rstrip("}"))
            for line in ebnf.splitlines() if line.split(" ::= ")[1].startswith("[")}


@pytest.mark.parametrize("max_tokens", [256, 768, 4096])
def test_free_text_bounds_fit_the_token_budget(max_tokens):
    """At 2.5 characters a token the longest answer a shape allows still fits max_tokens."""
    room = (max_tokens - 40) * 2.5 if max_tokens > 120 else 200
    d = _upper(draft_shape(max_tokens).ebnf)
    assert d["proof"] + d["evaluation"] <= room
    ebnf = verify_shape(PROOF, max_tokens).ebnf
    v, n_issues = _upper(ebnf), int(ebnf.split("issue{1,")[1].split("}")[0])
    assert 1 <= n_issues <= MAX_ISSUES
    assert v["analysis"] + n_issues * (QUOTE_CHARS + 12 + v["why"]) + v["reason"] <= room
    m = _upper(meta_shape(3, max_tokens).ebnf)
    assert 3 * m["why"] <= room


def test_json_answers_read_back_as_the_text_form():
    grading = {"analysis": "checked", "issues": [{"severity": "critical", "quote": "Both factors are even",
                                                 "description": "fine really"}],
               "reasoning": "one error", "score": "0"}
    v = parse_verification(Completion(json.dumps(grading)), PROOF)
    assert v.status == "ok" and v.score == 0.0 and v.issues[0].severity == "critical"
    assert v.issues[0].step is not None
    draft = parse_draft(Completion(json.dumps({"solution": "the proof", "self_evaluation": "ok", "score": "1"})))
    assert (draft.proof, draft.self_score, draft.status) == ("the proof", 1.0, "ok")
    meta = json.dumps({"verdicts": [{"issue": 1, "valid": False, "reason": "misread"}], "rating": "0.5"})
    assert parse_meta(Completion(meta))[:2] == (0.5, {1: False})


@pytest.mark.parametrize("text", ["{", "{}", '{"issues": 3, "score": "1"}', '{"solution": ["x"]}', "[1, 2]",
                                  '{"verdicts": "no", "rating": "1"}', "{" + " " * 2_000_000 + "}", "plain text"])
def test_other_text_is_left_as_it_is(text):
    assert answer_text(text) == text


class _NoCalls:
    name = "none"

    def generate(self, requests, on_result=None):  # pragma: no cover - never called
        raise AssertionError


def test_the_grader_asks_for_shapes_only_when_on_and_only_for_builtin_templates(tmp_path):
    sampling = CallSampling(max_tokens=512)
    on = Grader(Templates(), sampling, CallRunner(_NoCalls(), None, "t"), structured=True)
    off = Grader(Templates(), sampling, CallRunner(_NoCalls(), None, "t"))
    assert off.verify_request("k", PROBLEM, PROOF.text).sampling.structure is None
    shaped = on.verify_request("k", PROBLEM, PROOF.text).sampling.structure
    assert shaped is not None and "Both factors are even, so 8 divides it." in shaped.ebnf
    assert json.loads(shaped.json_schema)["required"] == ["analysis", "issues", "reasoning", "score"]
    meta = on.meta_request("m", PROBLEM, PROOF.text, "report", 3).sampling.structure
    assert meta is not None and "line3 ::=" in meta.ebnf and "line4" not in meta.ebnf
    (tmp_path / "verify.md").write_text("My own format: {{problem}} {{proof}}")
    mine = Grader(Templates(tmp_path), sampling, CallRunner(_NoCalls(), None, "t"), structured=True)
    assert mine.verify_request("k", PROBLEM, PROOF.text).sampling.structure is None
    assert mine.meta_request("m", PROBLEM, PROOF.text, "r", 1).sampling.structure is not None
