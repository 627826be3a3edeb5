"""Reading grading sets: the real GradingBench, DeepSeekMath-V2 and IMO-ProofBench files, generic JSONL, bad input."""
import json

import pytest
from real_data import proofbench_csv

from verifier.errors import VerifierError
from verifier.grading_input import items_digest, read_grading_input


def test_gradingbench_csv(gradingbench_set):
    items = read_grading_input(gradingbench_set.path)
    n = 100 if gradingbench_set.full else 12  # the training subset, or the 12 in problems/data
    assert len(items) == n
    assert len({i.id for i in items}) == n
    assert {i.human_points for i in items} == {0.0, 1.0, 6.0, 7.0}
    first = items[0]
    assert first.id == "GB-0849" and first.problem.id == "PB-Advanced-026" and first.max_points == 7
    assert first.problem.reference_solution and first.problem.grading_guidelines and first.has_reference
    assert first.proof.strip()


def test_deepseek_outputs_points_by_contest(dsm_outputs):
    maxes = {}
    for path in sorted(dsm_outputs.glob("*.jsonl")):
        for item in read_grading_input(path):
            maxes.setdefault(item.problem.id.split("-")[0].rstrip("0123456789"), set()).add(item.max_points)
            assert 0 <= item.human_points <= item.max_points
    assert maxes["IMO"] == {7} and maxes["CMO"] == {21} and maxes["Putnam"] == {10} and maxes["PB"] == {7}
    basic = read_grading_input(dsm_outputs / "IMO-ProofBench-Basic.jsonl")
    assert basic[0].problem.grading_guidelines and basic[0].has_reference


def test_proofbench_csv_with_proofs_file(dsm_outputs, tmp_path):
    proofs = dsm_outputs / "IMO-ProofBench-Advanced.jsonl"
    n = sum(1 for line in proofs.read_text(encoding="utf-8").splitlines() if line.strip())  # 30, or 2 shipped
    items = read_grading_input(proofbench_csv(), proofs)
    assert len(items) == n and items[0].problem.id == "PB-Advanced-001"
    assert items[0].problem.reference_solution and items[0].human_points is not None
    own = tmp_path / "proofs.jsonl"
    own.write_text(json.dumps({"problem_id": "PB-Basic-001", "proof": "By symmetry."}) + "\n"
                   + json.dumps({"problem_id": "PB-Basic-001", "proof": "Another.", "human_points": 1}) + "\n")
    items = read_grading_input(proofbench_csv(), own)
    assert [i.id for i in items] == ["PB-Basic-001", "PB-Basic-001#2"]
    assert items[1].human_points == 1.0 and items[0].human_points is None
    with pytest.raises(VerifierError, match="needs|--proofs"):
        read_grading_input(proofbench_csv())
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem_id": "NOPE-1", "proof": "x"}) + "\n")
    with pytest.raises(VerifierError, match="'NOPE-1' is not in"):
        read_grading_input(proofbench_csv(), bad)


def test_generic_jsonl(tmp_path):
    path = tmp_path / "set.jsonl"
    rows = [{"problem": "Show 1+1=2.", "proof": "Count.", "human_points": 7},
            {"id": "b", "problem": "Show x.", "proof": "Hmm.", "human_points": 3, "max_points": 10,
             "reference_solution": "Because.", "grading_guidelines": "1 point for x"},
            {"problem": "No grade here.", "proof": "Trust me."}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = read_grading_input(path)
    assert [i.id for i in items] == ["1", "b", "3"]
    assert items[1].max_points == 10 and items[1].has_reference and not items[0].has_reference
    assert items[2].human_points is None
    assert items_digest(items) == items_digest(read_grading_input(path))


@pytest.mark.parametrize("name, content, message", [
    ("x.csv", "Problem ID,Problem,Response\nA,Q,P\n", "lacks 'Points'"),
    ("x.csv", "Foo,Bar\n1,2\n", "lacks 'Problem ID', 'Problem'"),
    ("x.csv", "Problem ID,Problem,Response,Points\nA,Q,P,9\n", "outside 0..7"),
    ("x.csv", "Problem ID,Problem,Response,Points\nA,Q,P,lots\n", "must be a number"),
    ("x.csv", "Problem ID,Problem,Response,Points\n", "no rows"),
    ("x.jsonl", '{"problem": "Q"}\n', "no proof text"),
    ("x.jsonl", '{"proof": "P"}\n', "no problem statement"),
    ("x.jsonl", '{"problem": "Q", "proof": "P"\n', "invalid JSON"),
    ("x.jsonl", '[1, 2]\n', "expected a JSON object"),
    ("x.jsonl", "   \n", "empty"),
    ("x.txt", "hello", "unknown grading input format"),
    ("x.jsonl", '{"problem": "Q", "proof": "P", "max_points": "ten"}\n', "whole number"),
])
def test_bad_input_one_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(VerifierError, match=message) as e:
        read_grading_input(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(VerifierError, match="not found"):
        read_grading_input(tmp_path / "nope.csv")
    blob = tmp_path / "blob.jsonl"
    blob.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(VerifierError, match="binary"):
        read_grading_input(blob)
