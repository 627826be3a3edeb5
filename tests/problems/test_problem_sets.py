"""problems.sets: the bundled sets load with the right counts, and `resolve` finds one problem or says why not."""
import json

import pytest

from problems import ProblemError, list_sets, load_set, resolve
from problems.sets import DATA, SETS

COUNTS = {"imo2025": 6, "cmo2024": 6, "cmo2025": 6, "putnam2024": 12,
          "proofbench-basic": 30, "proofbench-advanced": 30, "answerbench": 400, "easy": 6}
MAX_POINTS = {"imo2025": 7, "cmo2024": 21, "cmo2025": 21, "putnam2024": 10,
              "proofbench-basic": 7, "proofbench-advanced": 7, "answerbench": None, "easy": 7}


def test_list_sets():
    infos = list_sets()
    assert {s.name: s.count for s in infos} == COUNTS
    assert all(s.source and s.license in ("Apache-2.0", "CC-BY-4.0") for s in infos)


@pytest.mark.parametrize("name", list(COUNTS))
def test_each_set_loads(name):
    problems = load_set(name)
    assert len(problems) == COUNTS[name]
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.id.startswith(name + "/") and p.statement and p.source for p in problems)
    assert {p.max_points for p in problems} == {MAX_POINTS[name]}
    for p in problems:  # every id resolves back to its problem
        assert resolve(p.id) is p


def test_proofbench_sets_carry_solution_guidelines_and_lean():
    for name in ("proofbench-basic", "proofbench-advanced"):
        for p in load_set(name):
            assert p.reference_solution and p.grading_guidelines
            assert p.lean_statement and p.lean_statement.startswith("import Mathlib")
    assert load_set("proofbench-advanced")[0].id == "proofbench-advanced/001"


def test_answerbench_has_answers():
    problems = load_set("answerbench")
    assert all(p.answer for p in problems)
    assert problems[0].id == "answerbench/algebra-001" and problems[-1].id == "answerbench/number_theory-100"


def test_contest_ids_and_answers():
    assert [p.id for p in load_set("putnam2024")][:2] == ["putnam2024/A1", "putnam2024/A2"]
    assert resolve("imo2025/1").answer == "k = 0, 1, 3 for all n"
    assert resolve("imo2025/2").answer is None
    assert resolve("cmo2024/4").source == "CMO 2024, P4"


@pytest.mark.parametrize("ref, expected", [
    ("imo2025/1", "imo2025/1"), ("IMO2025/1", "imo2025/1"), ("imo2025/IMO2025-1", "imo2025/1"),
    ("putnam2024/a1", "putnam2024/A1"), ("putnam2024/Putnam2024-B6", "putnam2024/B6"),
    ("proofbench-basic/1", "proofbench-basic/001"), ("proofbench-basic/PB-Basic-007", "proofbench-basic/007"),
    ("answerbench/geometry-7", "answerbench/geometry-007"),
    ("answerbench/imo-bench-combinatorics-100", "answerbench/combinatorics-100"),
])
def test_resolve_aliases(ref, expected):
    assert resolve(ref).id == expected


def test_bundled_files_are_those_in_notice():
    notice = (DATA / "NOTICE").read_text()
    for spec in SETS.values():
        assert spec.file in notice and (DATA / spec.file).is_file()
    assert "CC-BY-4.0" in notice and "Apache" in notice


def test_resolve_files(tmp_path):
    md = tmp_path / "p.md"
    md.write_text("---\nid: mine\n---\nProve it.\n")
    assert resolve(str(md)).id == "mine"
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"problem_idx": "IMO2025-1", "question": "A"},
                                {"problem_idx": "IMO2025-2", "question": "B"}]))
    assert resolve(f"{many}#IMO2025-2").statement == "B"
    assert resolve(f"{many}#imo2025-02").statement == "B"
    with pytest.raises(ProblemError, match=r"holds 2 problems; name one as .*many\.json#ID"):
        resolve(str(many))
    with pytest.raises(ProblemError, match=r"no problem 'X' in .*its ids: IMO2025-1, IMO2025-2"):
        resolve(f"{many}#X")


@pytest.mark.parametrize("ref, words", [
    ("imo2026/1", "unknown problem set 'imo2026'.*known sets: imo2025, cmo2024"),
    ("imo2025/9", "unknown problem 'imo2025/9'; imo2025 has 6 problems: imo2025/1, imo2025/2"),
    ("answerbench/x", r"answerbench has 400 problems: .*\.\.\. \(400 in all\)"),
    ("imo2025", "'imo2025' is a problem set; name one of its problems, e.g. imo2025/1"),
    ("nowhere/p.md", "problem file not found: nowhere/p.md"),
    ("nowhere.json#3", "problem file not found: nowhere.json"),
    ("", "no problem given"),
])
def test_resolve_errors(ref, words):
    with pytest.raises(ProblemError, match=words):
        resolve(ref)


def test_load_set_unknown():
    with pytest.raises(ProblemError, match="unknown problem set 'imo'; known sets: imo2025, .*answerbench"):
        load_set("imo")


def test_easy_set_holds_a_correct_and_a_flawed_proof_of_each_problem():
    import json

    from problems.sets import DATA

    rows = json.loads((DATA / "easy.json").read_text())
    for row, problem in zip(rows, load_set("easy")):
        assert problem.reference_solution == row["solution"]
        assert row["flawed_solution"] != row["solution"] and len(row["flawed_solution"]) > 100
