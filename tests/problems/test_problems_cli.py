"""`proofloop problems list|show` run as a subprocess, the way a user runs them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd=ROOT):
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(ROOT))
    env.pop("PROOFLOOP_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=HANG_GUARD)


def test_list_table():
    r = run("problems", "list")
    assert r.returncode == 0, r.stderr
    for name, count in (("imo2025", "6"), ("putnam2024", "12"), ("proofbench-advanced", "30"),
                        ("answerbench", "400")):
        line = next(line for line in r.stdout.splitlines() if f" {name} " in line)
        assert f" {count} " in line
    assert "CC-BY-4.0" in r.stdout and "Apache-2.0" in r.stdout


def test_list_json():
    r = run("problems", "list", "--json")
    assert r.returncode == 0, r.stderr
    sets = json.loads(r.stdout)
    assert [s["name"] for s in sets][:4] == ["imo2025", "cmo2024", "cmo2025", "putnam2024"]
    assert set(sets[0]) == {"name", "count", "source", "license"}


def test_show():
    r = run("problems", "show", "imo2025/1")
    assert r.returncode == 0, r.stderr
    assert "sunny" in r.stdout and "k = 0, 1, 3 for all n" in r.stdout and "IMO 2025, P1" in r.stdout


def test_show_keeps_latex_backslashes():
    r = run("problems", "show", "putnam2024/A1")
    assert r.returncode == 0 and "\\[" in r.stdout


def test_show_json_is_the_problem_dict():
    r = run("problems", "show", "proofbench-basic/001", "--json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert p["id"] == "proofbench-basic/001" and p["max_points"] == 7
    assert p["grading_guidelines"] and p["reference_solution"] and p["lean_statement"]


def test_show_a_file(tmp_path):
    (tmp_path / "p.md").write_text("---\nid: mine\nanswer: 42\n---\nWhat is six times seven?\n")
    r = run("problems", "show", str(tmp_path / "p.md"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["answer"] == "42"


@pytest.mark.parametrize("ref, words", [
    ("imo2025/9", "unknown problem 'imo2025/9'"),
    ("nope/1", "unknown problem set 'nope'"),
    ("missing.md", "problem file not found: missing.md"),
])
def test_show_errors_exit_2_with_one_line(ref, words):
    r = run("problems", "show", ref)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]


def test_show_empty_file_exit_2(tmp_path):
    (tmp_path / "e.md").write_text("")
    r = run("problems", "show", str(tmp_path / "e.md"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "is empty" in r.stderr
