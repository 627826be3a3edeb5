from model.backends.backend import Completion
from verifier.parse import apply_meta, parse_meta, parse_verification
from verifier.scores import boxed_values, last_score, parse_score
from verifier.steps import segment

PROOF = segment("Step one: we have $a = 1$.\n\nStep two: therefore 2 + 2 = 5.\n\nStep three: done.")


def test_boxed_nested_braces():
    assert boxed_values(r"a \boxed{\frac{1}{2}} b \boxed{x^{2}}") == [r"\frac{1}{2}", "x^{2}"]


def test_parse_score_values():
    assert [parse_score(v) for v in ["1", "1.0", "0", r"\frac{1}{2}", "1/2", "$0.5$", "2", "yes"]] == \
        [1.0, 1.0, 0.0, 0.5, 0.5, 0.5, None, None]
    assert last_score("no box here") is None


def test_verification_issues_pinned_to_steps():
    text = """Some preamble reasoning \\boxed{1} that is not final.
## Issues
- [critical] "therefore 2 + 2 = 5" : false arithmetic
  which breaks the rest.
1. **Gap**: `we have $a = 1$` - not justified
* (minor) “done” : too terse

## Score
Final score: \\boxed{0}"""
    v = parse_verification(Completion(text), PROOF)
    assert v.status == "ok" and v.score == 0.0
    assert [(i.severity, i.step) for i in v.issues] == [("critical", 2), ("gap", 1), ("minor", 3)]
    assert "breaks the rest" in v.issues[0].description


def test_no_issues_and_statuses():
    assert parse_verification(Completion("## Issues\nNone\n## Score\n\\boxed{1}"), PROOF).issues == []
    assert parse_verification(Completion("I think it is fine."), PROOF).status == "unparsed"
    t = parse_verification(Completion("## Issues\n- [gap] \"x\" : y\n\\boxed{1}", finish_reason="length"), PROOF)
    assert t.status == "truncated" and t.score is None and len(t.issues) == 1
    e = parse_verification(Completion("", finish_reason="error", error="timeout"), PROOF)
    assert e.status == "error" and e.analysis == "timeout"


def test_unfound_quote_has_no_step():
    v = parse_verification(Completion('- [critical] "a sentence nowhere in the proof at all" : bad\n\\boxed{0}'), PROOF)
    assert v.issues[0].step is None


def test_meta_verdicts_and_fallback():
    v = parse_verification(Completion('## Issues\n- [critical] "2 + 2 = 5" : a\n- [gap] "done" : b\n'
                                      '- [minor] "done" : c\n\\boxed{0}'), PROOF)
    rating, verdicts, status = parse_meta(Completion("**Issue 1**: Valid.\nIssue 2: invalid, it is fine\n\\boxed{0.5}"))
    assert (rating, verdicts, status) == (0.5, {1: True, 2: False}, "ok")
    apply_meta(v, rating, verdicts)
    assert [i.confirmed for i in v.issues] == [True, False, True]  # issue 3 falls back to the rating
