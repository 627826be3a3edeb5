"""Verdicts read from a verifier's answer: the score from its own verdict, issues in every form, quotes anchored."""
import json

import pytest

from model.backends.backend import Completion
from verifier.metrics import status_counts
from verifier.parse import parse_meta, parse_verification, read_issues
from verifier.scores import last_score, read_verdict
from verifier.steps import anchor, segment
from verifier.verification import STATUSES, Verification

PROOF = segment("Step one: we have $a = 1$.\n\nStep two: therefore $x^2 \\ge 2xy$ for all reals.\n\n"
                "Step three: hence the answer is $\\boxed{1}$.")

# ---- the score comes from the answer's own verdict, never from what it quotes


@pytest.mark.parametrize("quoting", [
    '- [critical] "hence the answer is $\\boxed{1}$" : the claim is false',  # a quoted passage
    "> hence the answer is $\\boxed{1}$",  # a block quote
    "```\nhence the answer is \\boxed{1}\n```",  # a code block
    "The proof ends with \\boxed{1}, but step two is wrong.",  # prose before the score section
])
@pytest.mark.parametrize("verdict,score", [("## Score\nFinal score: \\boxed{0}", 0.0),
                                           ("## Score\n\\boxed{0.5}", 0.5),
                                           ("Final score: \\boxed{0}", 0.0)])
def test_quoted_boxes_are_not_the_verdict(quoting, verdict, score):
    text = f"## Issues\n{quoting}\n\n{verdict}"
    v = parse_verification(Completion(text), PROOF)
    assert (v.score, v.status) == (score, "ok")


@pytest.mark.parametrize("quoting", ['The proof says "so the score is \\boxed{1}".',
                                     "> \\boxed{1}", "```\n\\boxed{1}\n```"])
def test_a_quote_in_the_last_lines_is_not_a_verdict(quoting):
    assert read_verdict(f"Step two is false.\n\n{quoting}").status == "unparsed"
    assert read_verdict(f"Step two is false.\n\n{quoting}\nScore: 0/1").score == 0.0


@pytest.mark.parametrize("text,rubric,score", [
    ("## Score\n\\boxed{1}", "binary", 1.0),
    ("## Score\n\\boxed{0}", "binary", 0.0),
    ("## Score\n\\boxed{\\frac{1}{2}}", "binary", 0.5),
    ("the final overall score should be: \\boxed{0.5}", "binary", 0.5),
    ("Verdict: \\boxed{correct}", "binary", 1.0),
    ("**Final verdict:** \\boxed{\\text{incorrect}}", "binary", 0.0),
    ("Overall the proof is fine.\nScore: 1/1", "binary", 1.0),
    ("Score: 0/1", "binary", 0.0),
    ("**Score**: 1", "binary", 1.0),
    ("## Points\nThe proof earns \\boxed{6}", "points", 6.0),
    ("Points: 5/7", "points", 5.0),
    ("Grade: 7 / 7", "points", 7.0),
    ("## Points\n\\boxed{0}", "points", 0.0),
    ("Verdict: Almost", "points", 6.0),
])
def test_verdict_forms(text, rubric, score):
    v = read_verdict(text, rubric)
    assert (v.score, v.status) == (score, "ok"), v


@pytest.mark.parametrize("text,rubric", [
    ("## Score\n\\boxed{5}", "binary"),  # a points grader asked for 0 | 0.5 | 1
    ("Points: 5/7", "binary"),
    ("Score: 1/7", "binary"),  # out of 7 is points even when the number would fit
    ("Verdict: Almost", "binary"),
    ("## Points\n\\boxed{0.5}", "points"),  # a binary grader asked for points
    ("Score: 1/1", "points"),
    ("## Points\n\\boxed{9}", "points"),
    ("Points: 8/7", "points"),
])
def test_rubric_mismatch_is_reported_not_mapped(text, rubric):
    v = read_verdict(text, rubric)
    assert (v.score, v.status) == (None, "rubric_mismatch"), v


def test_rubric_mismatch_is_a_status_of_its_own_and_is_counted():
    v = parse_verification(Completion("## Issues\nNone\n## Score\n\\boxed{5}"), PROOF)
    assert (v.score, v.status) == (None, "rubric_mismatch")
    assert "rubric_mismatch" in STATUSES
    assert Verification.from_dict(v.to_dict()).status == "rubric_mismatch"
    counts = status_counts([v.status, "ok", "ok", "mystery"])
    assert counts["rubric_mismatch"] == 1 and counts["ok"] == 2 and counts["mystery"] == 1 and counts["error"] == 0
    assert parse_meta(Completion("Issue 1: valid\nFinal rating: \\boxed{3}"))[2] == "rubric_mismatch"
    assert last_score("## Score\n\\boxed{5}") is None


def test_no_verdict_and_a_boxed_answer_are_unparsed():
    assert read_verdict("I think it is fine.").status == "unparsed"
    assert read_verdict("So the answer is \\boxed{n = 3}.").status == "unparsed"
    assert read_verdict("").status == "unparsed"


# ---- issues in every form, and whether the answer said anything about them

def _issues(text):
    return read_issues(text, PROOF)


def test_deepseek_style_blocks():
    text = """Here is my evaluation of the solution.

**Issue 1:**
* **Location:** "therefore $x^2 \\ge 2xy$ for all reals"
* **Issue:** The inequality needs $x, y$ real and is not derived.
* **Classification:** Justification Gap

**Issue 2:**
* **Location:** "hence the answer is"
* **Issue:** Critical Error - the conclusion does not follow.

Based on my evaluation, the final overall score should be: \\boxed{0}"""
    issues, status = _issues(text)
    assert status == "found"
    assert [(i.severity, i.step, i.anchor) for i in issues] == [("gap", 2, "exact"), ("critical", 3, "exact")]
    assert "not derived" in issues[0].description
    assert parse_verification(Completion(text), PROOF).score == 0.0


def test_severity_after_the_quote():
    issues, status = _issues('## Issues\n- "we have $a = 1$" (gap): why is a one?\n'
                             '- `hence the answer is` — critical — it is not\n1. "Step two" [minor]: wording')
    assert status == "found"
    assert [(i.severity, i.step) for i in issues] == [("gap", 1), ("critical", 3), ("minor", 2)]
    assert issues[0].description == "why is a one?"


def test_issues_labelled_by_category():
    issues, _ = _issues('## Issues\n- **Logical error**: "therefore $x^2 \\ge 2xy$" does not follow\n'
                        '- [Missing justification] "we have $a = 1$" needs a reason\n'
                        '- **Notation issue**: "Step three" uses a box')
    assert [(i.severity, i.step) for i in issues] == [("critical", 2), ("gap", 1), ("minor", 3)]


def test_json_list_of_issues():
    data = [{"severity": "critical", "quote": "therefore $x^2 \\ge 2xy$", "description": "false for x=1,y=2"},
            {"classification": "Justification gap", "location": "we have $a = 1$", "issue": "why"}]
    issues, status = _issues("My findings:\n```json\n" + json.dumps(data) + "\n```\n\\boxed{0}")
    assert status == "found"
    assert [(i.severity, i.step, i.description) for i in issues] == [("critical", 2, "false for x=1,y=2"),
                                                                    ("gap", 1, "why")]
    assert _issues("```json\n[]\n```\nScore: 1/1") == ([], "none_found")
    # a huge or broken JSON list is not read as one, and does not raise
    assert _issues("```json\n[" + "[" * 100_000 + "\n```")[1] == "none_reported"
    assert _issues("```json\n[{\"quote\": \"x\", \n```")[1] == "none_reported"


@pytest.mark.parametrize("text,status", [
    ("## Issues\nNone\n## Score\n\\boxed{1}", "none_found"),
    ("## Issues\nNo issues found.\n## Score\n\\boxed{1}", "none_found"),
    ("The proof is complete.\n\nThere are no errors.\n\nScore: 1/1", "none_found"),
    ("The proof looks good to me.\n\\boxed{1}", "none_reported"),  # says nothing about issues
    ("## Issues\nThe second step troubles me somewhat.\n## Score\n\\boxed{1}", "unparsed"),
    ("## Issues\n- [gap] \"we have $a = 1$\" : why\n## Score\n\\boxed{0.5}", "found"),
])
def test_issues_status(text, status):
    v = parse_verification(Completion(text), PROOF)
    assert v.issues_status == status
    assert (v.issues == []) == (status != "found")


def test_a_lone_field_line_is_not_an_issue():
    assert _issues("Problem: prove that $a = 1$.\n\nThe proof is right.\n\\boxed{1}") == ([], "none_reported")
    assert _issues("Notation: let $f$ be the map.\nStyle is fine.\n\\boxed{1}") == ([], "none_reported")


# ---- anchoring a quote to its step

@pytest.mark.parametrize("quote", ["x² ≥ 2xy", "$x^2 \\geq 2xy$", "x^{2}\\ge 2 x y", "\\(x^2\\,\\ge\\,2xy\\)",
                                   "x ^ 2 ⩾ 2xy", "x^2 \\;\\geqslant\\; 2xy"])
def test_unicode_and_latex_quotes_find_the_same_step(quote):
    assert anchor(PROOF, quote) == (PROOF.steps[1], "exact")


def test_cdot_and_unicode_products():
    proof = segment("First: $2 \\cdot 3 = 6$.\n\nSecond: $α + β = π$.\n\nThird: $\\left(a+b\\right)^{2} \\le 4$.")
    assert anchor(proof, "2·3 = 6")[0].index == 1
    assert anchor(proof, "2 ⋅ 3 = 6")[0].index == 1
    assert anchor(proof, "\\alpha+\\beta=\\pi")[0].index == 2
    assert anchor(proof, "(a+b)² ≤ 4")[0].index == 3


def test_fuzzy_match_prefers_the_tightest_step():
    long_step = ("Long step: " + " ".join(f"word{i} filler text" for i in range(80))
                 + " the sum of the first squares is positive")
    proof = segment(f"{long_step}\n\nShort step: the sum of the frist squares is positve.\n\nDone.")
    step, how = anchor(proof, "the sum of the first squares is positive")
    assert how == "exact" and step.index == 1  # an exact match wins, wherever it is
    step, how = anchor(proof, "sum of the frist sqares is positve")
    assert (step.index, how) == (2, "fuzzy")


def test_unanchored_quotes_are_reported_as_such():
    v = parse_verification(Completion('- [critical] "a sentence nowhere in the proof at all" : bad\n\\boxed{0}'), PROOF)
    assert (v.issues[0].step, v.issues[0].anchor) == (None, "unanchored")
    v = parse_verification(Completion("- [critical] no quote here, just a complaint\n\\boxed{0}"), PROOF)
    assert (v.issues[0].step, v.issues[0].anchor) == (None, None)
