"""The batch grader in process: parsing both rubrics, aggregation (mean, majority, all-pass), counts of unparsed
and truncated gradings, reuse of finished gradings, and the summary's metrics (from verifier.metrics)."""
import sys
from pathlib import Path

import pytest
from fake_grader import respond

from ledger.store import RunStore
from model.backends.backend import Completion
from problems.problem import Problem
from verifier import metrics
from verifier.batch import GradeConfig, GradeRun, Grading, ItemGrade, parse_grading, read_grades, summarize
from verifier.errors import VerifierError
from verifier.grading_input import GradingItem, read_grading_input
from verifier.prompts import Templates
from verifier.steps import segment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "prover"))
from scripted import ScriptedBackend  # noqa: E402


def item(points=None, max_points=7, ref=True, id="a") -> GradingItem:
    p = Problem(id="P1", statement="Show it.", reference_solution="Ref." if ref else None, max_points=max_points)
    return GradingItem(id, p, "Step one. Then 2 + 2 = 5.\n\nStep two, done.", points, max_points)


def test_parse_points_and_binary():
    it = item()
    g = parse_grading(Completion("## Issues\n- [gap] \"2 + 2 = 5\" : wrong\n\n## Points\n\\boxed{6}"), "points", it,
                      segment(it.proof))
    assert (g.score, g.points, g.status) == (6.0, 6.0, "ok") and g.issues[0].severity == "gap"
    assert g.issues[0].step is not None
    cmo = item(max_points=21)
    assert parse_grading(Completion("\\boxed{7}"), "points", cmo).points == 21.0
    assert parse_grading(Completion("\\boxed{0.5}"), "binary", cmo).points == 10.5
    assert parse_grading(Completion("no box"), "points", it).status == "unparsed"
    # a grade outside the rubric's scale is reported as such, never read as something else
    assert parse_grading(Completion("\\boxed{9}"), "points", it).status == "rubric_mismatch"
    assert parse_grading(Completion("\\boxed{0.5}"), "points", it).status == "rubric_mismatch"
    assert parse_grading(Completion("Points: 5/7"), "binary", it).status == "rubric_mismatch"
    cut = parse_grading(Completion("\\boxed{7", finish_reason="length"), "points", it)
    assert cut.status == "truncated" and cut.points is None
    err = parse_grading(Completion("", finish_reason="error", error="boom"), "binary", it)
    assert err.status == "error" and err.analysis == "boom"


@pytest.mark.parametrize("rubric,verdict,expected", [
    ("points", "## Points\n\\boxed{2}", 2.0),
    ("points", "Final points: 3/7", 3.0),
    ("binary", "## Score\n\\boxed{0}", 0.0),
    ("binary", "Score: 1/1", 1.0),
    ("binary", "\\boxed{incorrect}", 0.0),
])
def test_batch_reads_only_the_graders_own_verdict(rubric, verdict, expected):
    """A grading that quotes the proof's own boxed answer (or a box in a code block) is read by its verdict."""
    it = item()
    quoted = ("The proof ends with \"so the answer is $\\boxed{7}$\" and its code prints\n"
              "```\n\\boxed{1}\n```\nbut step 2 is wrong.\n\n")
    g = parse_grading(Completion(quoted + verdict), rubric, it)
    assert (g.score, g.status) == (expected, "ok")


def test_batch_summary_counts_rubric_mismatch():
    it = item(ref=False)  # binary under auto
    grades = [ItemGrade(it, "binary", [parse_grading(Completion("## Points\n\\boxed{6}"), "binary", it),
                                        parse_grading(Completion("\\boxed{1}"), "binary", it)])]
    out = summarize(grades, {}, "run")
    assert out["gradings"]["rubric_mismatch"] == 1 and out["gradings"]["ok"] == 1
    assert grades[0].points == 7.0  # the mismatched grading is not read as a grade


def g(points, status="ok"):
    return Grading(points, points, status)


def test_aggregation():
    grade = ItemGrade(item(7), "points", [g(7), g(6), g(7), g(None, "unparsed")])
    assert grade.points == pytest.approx(20 / 3) and grade.majority_class == "Correct" and not grade.passed
    assert ItemGrade(item(7), "points", [g(7), g(7)]).passed
    assert not ItemGrade(item(7), "points", [g(7), None]).passed  # not finished
    tie = ItemGrade(item(0), "points", [g(7), g(1)])
    assert tie.majority_class == "Partial"  # ties go to the lower class
    assert ItemGrade(item(0), "points", [g(None, "unparsed")]).points is None


def test_config_checks():
    with pytest.raises(VerifierError, match="--rubric"):
        GradeConfig(rubric="fancy")
    with pytest.raises(VerifierError, match="--verifications"):
        GradeConfig(verifications=0)


def test_grade_run_in_process(tmp_path, gradingbench):
    items = read_grading_input(gradingbench)[:20]  # 20 of the full set, or the 12 shipped
    backend = ScriptedBackend(respond)
    store = RunStore.create(tmp_path / "run", {"kind": "grade", "grade": {"verifications": 2, "rubric": "auto"},
                                                 "input": "gb"})
    grades = GradeRun(items, GradeConfig(verifications=2), backend, store, Templates()).run()
    assert len(backend.requests) == 2 * len(items) and all("Grading guidelines" in r.messages[0]["content"]
                                               for r in backend.requests)
    assert len(grades) == len(items) >= 12 and all(gr.rubric == "points" for gr in grades)
    out = summarize(grades, store.call_stats(), str(tmp_path))
    assert out["n"] == len(items) and sum(out["gradings"].values()) == 2 * len(items)
    assert out["gradings"].get("unparsed", 0) == out["unparsed"]
    ours = [x.points for x in grades]
    human = [x.item.human_points for x in grades]
    expected = metrics.agreement(ours, human, max_points=7, passed=[x.passed for x in grades]).to_dict()
    assert out["metrics"] == expected
    assert set(out["per_problem"]) == {x.item.problem.id for x in grades}
    assert out["calls"]["grade"] and out["tokens"]["grade"]["prompt"] > 0
    # a second run over the same store issues nothing
    again = ScriptedBackend(respond)
    GradeRun(items, GradeConfig(verifications=2), again, store, Templates()).run()
    assert again.requests == []
    _, reread = read_grades(store)
    assert [x.to_dict() for x in reread] == [x.to_dict() for x in grades]
    store.close()


def test_binary_rubric_and_truncation(tmp_path):
    items = [item(7, ref=False, id=f"i{n}") for n in range(3)]
    backend = ScriptedBackend(lambda req: "Final score: \\boxed{1}", finish_reason="length")
    store = RunStore.create(tmp_path / "run", {"kind": "grade", "grade": {"verifications": 1, "rubric": "binary"}})
    grades = GradeRun(items, GradeConfig(verifications=1, rubric="binary"), backend, store, Templates()).run()
    assert "You are grading a proof" in backend.requests[0].messages[0]["content"]
    out = summarize(grades, store.call_stats(), "x")
    assert out["truncated"] == 3 and out["graded"] == 0 and out["metrics"]["n"] == 0 and out["metrics"]["skipped"] == 3
    store.close()
