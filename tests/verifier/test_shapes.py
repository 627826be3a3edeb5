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


# ---- closings: wherever the budget runs out, the answer still ends in the shape ----
CHARS = [chr(c) for c in range(32, 127)] + ["\n"]  # a character-level vocabulary: any text, one token a character
STOP = len(CHARS)


@pytest.fixture(scope="module")
def compiler():
    import xgrammar as xgr

    info = xgr.TokenizerInfo(CHARS + ["</s>"], stop_token_ids=[STOP])
    return xgr.GrammarCompiler(info)


def _matcher(compiler, grammar: str):
    import xgrammar as xgr

    return xgr.GrammarMatcher(compiler.compile_grammar(grammar))


def _finish(matcher, rng: random.Random, most: int = 2000) -> str:
    """Any text the matcher's grammar allows from here: random allowed characters until it must stop."""
    import xgrammar as xgr

    mask = xgr.allocate_token_bitmask(1, STOP + 1)
    out = []
    for _ in range(most):
        matcher.fill_next_token_bitmask(mask)
        allowed = [t for t in range(STOP + 1) if (int(mask[0, t // 32]) >> (t % 32)) & 1]
        token = STOP if STOP in allowed and rng.random() < 0.5 else rng.choice(allowed)
        assert matcher.accept_token(token)
        if token == STOP:
            return "".join(out)
        out.append(CHARS[token])
    raise AssertionError(f"no end after {most} characters: {''.join(out)[:200]!r}")


def _closing(matcher, structure):
    """What the engine does when the tokens left run low: the first closing whose shortest ending fits here."""
    for ending, grammar in structure.closings:
        probe = matcher.fork()
        if probe.accept_string(ending) and probe.is_completed():
            return grammar
    return None


def _answers(rng: random.Random):
    proof, score = _free(rng), rng.choice(SCORES)
    yield draft_shape(), f"## Solution\n{proof}\n\n## Self Evaluation\n{_free(rng)}\nFinal score: \\boxed{{{score}}}"
    yield verify_shape(PROOF), _verify_text(rng, proof_sentences(PROOF))[0]
    n = rng.randint(1, 3)
    yield meta_shape(n), "".join(f"Issue {k}: {rng.choice(['valid', 'invalid'])} - {_free(rng, True)}\n"
                                 for k in range(1, n + 1)) + f"\nFinal rating: \\boxed{{{rng.choice(SCORES)}}}"


def _parses(structure, text: str) -> bool:
    if structure.name == "proof":
        return parse_draft(Completion(text)).status == "ok"
    if structure.name == "grading":
        v = parse_verification(Completion(text), PROOF)
        return v.status == "ok" and all(i.step is not None for i in v.issues)
    return parse_meta(Completion(text))[2] == "ok"


@pytest.mark.parametrize("seed", range(4))
def test_a_closing_is_found_soon_anywhere_and_what_it_writes_parses(compiler, seed):
    """Cut a valid answer at every character: within a fixed part's length a closing fits, and its text (any the
    closing's grammar allows) ends the answer so that the shape's own grammar accepts it and the parsers read it,
    within the tokens kept for it at 2.5 characters a token."""
    rng = random.Random(seed)
    for structure, text in _answers(rng):
        whole = _matcher(compiler, structure.ebnf)
        gap, tried = 0, 0
        for pos in range(len(text) + 1):
            tail = _closing(whole, structure)
            gap = 0 if tail is not None else gap + 1
            assert gap <= QUOTE_CHARS + 30, (structure.name, text[:pos])
            if tail is not None and (pos == len(text) or rng.random() < 0.08):
                tried += 1
                rest = _finish(_matcher(compiler, tail), rng)
                assert len(rest) <= (structure.closing_tokens - 8) * 2.5, (structure.name, rest)
                check = _matcher(compiler, structure.ebnf)
                assert check.accept_string(text[:pos] + rest) and check.accept_token(STOP), (text[:pos], rest)
                assert _parses(structure, text[:pos] + rest), (structure.name, text[:pos] + rest)
            if pos < len(text):
                assert whole.accept_string(text[pos])
        assert tried


def test_free_sections_are_unbounded_and_closings_are_counted():
    """Counted repetition costs xgrammar milliseconds a token: only the short closings may use it."""
    for structure in (draft_shape(), verify_shape(PROOF), meta_shape(3)):
        assert "]{" not in structure.ebnf.replace('"]{', ""), structure.name
        assert structure.closings and all("]{0," in g or "]{3," in g or "boxed" in g for _, g in structure.closings)
        assert structure.closing_tokens > 8


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
