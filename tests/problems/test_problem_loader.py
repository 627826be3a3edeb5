"""problems.loader: every file format, and one clear ProblemError per kind of bad input."""
import json
from pathlib import Path

import pytest
import real_data

from problems import ProblemError, load_file

DATA = Path(__file__).resolve().parents[2] / "problems" / "data"


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# ---- Markdown ----

def test_markdown_statement_only_takes_id_from_file_name(tmp_path):
    path = write(tmp_path, "sum.md", "\nProve that $1 + 1 = 2$.\n\n")
    [p] = load_file(path)
    assert (p.id, p.statement, p.answer, p.source, p.max_points) == ("sum", "Prove that $1 + 1 = 2$.", None, "", None)


def test_markdown_front_matter(tmp_path):
    path = write(tmp_path, "p.md", "---\n# a comment\nid: my-1\nanswer: '$n = 1$'\nsource: \"Home, 2026\"  \n"
                                   "max_points: 7\n---\nFind all $n$.\n\n---\nA rule inside the statement.\n")
    [p] = load_file(path)
    assert p.id == "my-1" and p.answer == "$n = 1$" and p.source == "Home, 2026" and p.max_points == 7
    assert p.statement == "Find all $n$.\n\n---\nA rule inside the statement."


def test_markdown_front_matter_block_value_and_trailing_comment(tmp_path):
    path = write(tmp_path, "p.md", "---\nid: x # the id\nanswer: |\n  line one\n    indented\nsource: s\n---\nS\n")
    [p] = load_file(path)
    assert p.id == "x" and p.answer == "line one\n  indented" and p.source == "s"


@pytest.mark.parametrize("text, words", [
    ("---\nid: x\nProve it.\n", "never closed"),
    ("---\nanwser: 3\n---\nProve it.\n", "unknown front matter key 'anwser'"),
    ("---\nid x\n---\nProve it.\n", "line 2"),
    ("---\nid: x\n---\n\n", "no problem statement"),
    ("---\nmax_points: seven\n---\nS\n", "max_points must be a whole number"),
    ("---\nanswer: 'open\n---\nS\n", "quote opened but not closed"),
])
def test_markdown_bad_front_matter(tmp_path, text, words):
    with pytest.raises(ProblemError, match=words):
        load_file(write(tmp_path, "p.md", text))


# ---- JSON / JSONL ----

def test_deepseek_inputs_json():
    problems = load_file(DATA / "Putnam2024.json")
    assert len(problems) == 12
    a1 = problems[0]
    assert a1.id == "Putnam2024-A1" and a1.max_points == 10 and a1.source == "Putnam 2024, A1"
    assert a1.answer.startswith("The answer is $n=1$")
    [cmo1] = [p for p in load_file(DATA / "CMO2025.json") if p.id == "CMO2025-1"]
    assert cmo1.answer is None and cmo1.max_points == 21  # "null" in the file means no answer


def test_deepseek_outputs_jsonl_with_proofbench_fields(tmp_path):
    record = {"solution": "Ref.", "grading guidelines": "(Partial) 1. ...", "level": "IMO-easy",
              "source": "(Modified) IMO 2019, P1", "question": "Find f.", "problem_idx": "PB-Basic-001",
              "type": "Algebra", "model_prediction": {"proof": "P", "average_automatic_rating": "1.0",
                                                      "human_rating": "7"}}
    plain = {"question": "Q6", "problem_idx": "IMO2025-6", "model_prediction": {"proof": "P"}}
    path = write(tmp_path, "out.jsonl", json.dumps(record) + "\n\n" + json.dumps(plain) + "\n")
    pb, imo = load_file(path)
    assert (pb.id, pb.statement, pb.reference_solution, pb.grading_guidelines, pb.source, pb.max_points) == (
        "PB-Basic-001", "Find f.", "Ref.", "(Partial) 1. ...", "(Modified) IMO 2019, P1", 7)
    assert (imo.id, imo.max_points, imo.source) == ("IMO2025-6", 7, "IMO 2025, P6")


def test_generic_json_object_and_list(tmp_path):
    one = write(tmp_path, "one.json", json.dumps({"id": "g1", "problem": "Show x.", "max_points": 10}))
    [p] = load_file(one)
    assert (p.id, p.statement, p.max_points) == ("g1", "Show x.", 10)
    many = write(tmp_path, "many.json", json.dumps([{"id": 1, "statement": "A"}, {"id": 2, "statement": "B"}]))
    assert [p.id for p in load_file(many)] == ["1", "2"]


def test_records_without_ids_are_numbered(tmp_path):
    path = write(tmp_path, "g.jsonl", '{"problem": "A", "proof": "p"}\n{"problem": "B", "human_points": 3}\n')
    assert [(p.id, p.statement) for p in load_file(path)] == [("1", "A"), ("2", "B")]


def test_malformed_json_names_the_line(tmp_path):
    path = write(tmp_path, "bad.json", '[\n  {"id": 1,\n   "question": "x",,\n  }\n]')
    with pytest.raises(ProblemError, match=r"bad\.json: malformed JSON at line 3"):
        load_file(path)


def test_malformed_jsonl_names_the_line(tmp_path):
    path = write(tmp_path, "bad.jsonl", '{"id": 1, "question": "x"}\n\n{"id": 2, "question": \n')
    with pytest.raises(ProblemError, match=r"malformed JSON on line 3"):
        load_file(path)


@pytest.mark.parametrize("content, words", [
    ("[]", "no problems"),
    ('[{"id": 1}]', "item 1: no problem statement"),
    ("[3]", "expected a JSON object"),
    ('[{"id": 1, "question": "a"}, {"id": 1, "question": "b"}]', "id '1' is used by two different problems"),
])
def test_json_bad_records(tmp_path, content, words):
    with pytest.raises(ProblemError, match=words):
        load_file(write(tmp_path, "p.json", content))


# ---- CSV ----

def test_proofbench_csv():
    problems = load_file(DATA / "proofbench_v2.csv")
    assert len(problems) == 60
    p = problems[0]
    assert p.id == "PB-Basic-001" and p.max_points == 7 and p.source == "(Modified) IMO 2019, P1"
    assert p.reference_solution and p.grading_guidelines.startswith("(Partial)") and p.answer
    assert p.lean_statement is None


def test_answerbench_csv():
    problems = load_file(DATA / "answerbench_v2.csv")
    assert len(problems) == 400
    assert problems[0].id == "imo-bench-algebra-001" and problems[0].answer == "3"
    assert problems[0].max_points is None and problems[0].reference_solution is None


def test_lean_proof_bench_csv():
    problems = load_file(DATA / "lean_proof_bench.csv")
    assert len(problems) == 60 and all(p.lean_statement.startswith("import Mathlib") for p in problems)


def test_gradingbench_csv_gives_each_problem_once(tmp_path):
    header = "Grading ID,Problem ID,Problem,Solution,Grading guidelines,Response,Points,Reward,Problem Source\n"
    rows = ('GB-1,PB-Advanced-026,"Let $n$, $k$...",Sol,G,R1,6,Almost,USAMO 2025\n'
            'GB-2,PB-Advanced-026,"Let $n$, $k$...",Sol,G,R2,0,Incorrect,USAMO 2025\n')
    [p] = load_file(write(tmp_path, "gb.csv", header + rows))
    assert (p.id, p.statement, p.source, p.max_points) == ("PB-Advanced-026", "Let $n$, $k$...", "USAMO 2025", 7)


def test_csv_without_expected_columns_names_them(tmp_path):
    path = write(tmp_path, "x.csv", "id,question\n1,Prove it.\n")
    with pytest.raises(ProblemError) as e:
        load_file(path)
    msg = str(e.value)
    assert "lacks the column(s) 'Problem ID', 'Problem'" in msg and "found: 'id', 'question'" in msg
    assert "\n" not in msg


def test_csv_header_only_and_empty_cells(tmp_path):
    with pytest.raises(ProblemError, match="no rows"):
        load_file(write(tmp_path, "h.csv", "Problem ID,Problem\n"))
    with pytest.raises(ProblemError, match="row 3: empty Problem"):
        load_file(write(tmp_path, "e.csv", "Problem ID,Problem\na,x\nb,\n"))


# ---- any file ----

@pytest.mark.parametrize("name, content, words", [
    ("empty.md", "", "problem file is empty"),
    ("blank.json", "  \n\n", "problem file is empty"),
    ("bin.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("latin.md", "caf\xe9".encode("latin-1"), "not UTF-8 text"),
    ("p.docx", "hello", "unknown problem file type '.docx'"),
])
def test_bad_files(tmp_path, name, content, words):
    with pytest.raises(ProblemError, match=words):
        load_file(write(tmp_path, name, content))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ProblemError, match="problem file not found: .*nope.md; check the path"):
        load_file(tmp_path / "nope.md")
    with pytest.raises(ProblemError, match="is a directory"):
        load_file(tmp_path)


def test_real_deepseek_outputs_and_gradingbench():
    outputs = real_data.dsm_outputs()  # the full set in ../shared/data, or the first and last line of each file
    counts = {"IMO2025": 6, "CMO2024": 6, "Putnam2024": 12, "IMO-ProofBench-Basic": 30, "IMO-ProofBench-Advanced": 30}
    for stem, count in counts.items():
        problems = load_file(outputs.path / f"{stem}.jsonl")
        assert len(problems) == (count if outputs.full else 2) and all(p.max_points in (7, 10, 21) for p in problems)
    basic = load_file(outputs.path / "IMO-ProofBench-Basic.jsonl")
    assert all(p.reference_solution and p.grading_guidelines for p in basic)
    graded = load_file(real_data.gradingbench().path)
    assert len(graded) == len({p.id for p in graded}) and all(p.id.startswith("PB-") for p in graded)


def test_problems_is_a_leaf_package():
    """problems imports only the standard library and itself (DESIGN.md: problems is a leaf)."""
    import ast
    import sys

    for path in (DATA.parent).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                top = name.split(".")[0]
                assert top == "problems" or top in sys.stdlib_module_names or top == "__future__", (path, name)
