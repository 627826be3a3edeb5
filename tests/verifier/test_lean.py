import os
import shutil
import stat
import sys

import pytest
from hang_guard import HANG_GUARD

from problems.problem import Problem
from verifier.evidence import exact_evidence
from verifier.lean import check_lean, formal_source, lean_issues, parse_messages, refusal, split_tactics

FAKE = r'''#!{python}
import json, sys, time
args = sys.argv[1:]
src = open(args[-1], encoding="utf-8").read()
name = args[-1]
def msg(sev, line, col, data):
    print(json.dumps({{"fileName": name, "pos": {{"line": line, "column": col}},
                      "endPos": {{"line": line, "column": col + 3}}, "severity": sev, "data": data}}))
if "CASE:accepted" in src:
    sys.exit(0)
if "CASE:error" in src:
    msg("error", 3, 4, "unknown identifier 'foo'")
    sys.exit(1)
if "CASE:sorry" in src:
    msg("warning", 2, 8, "declaration uses 'sorry'")
    sys.exit(0)
if "CASE:timeout" in src:
    time.sleep(30)
if "CASE:noinit" in src:
    sys.stderr.write("error: unknown package 'Init'\n")
    sys.exit(1)
if "CASE:crash" in src:
    sys.stderr.write("Segmentation fault\n")
    sys.exit(139)
if "CASE:info" in src:
    msg("information", 1, 0, "Try this: simp")
    sys.exit(0)
sys.exit(3)
'''


@pytest.fixture()
def fake_lean(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("lean", "lake"):
        exe = bindir / name
        body = FAKE.format(python=sys.executable)
        if name == "lake":  # `lake env lean --json FILE`: same behaviour
            body = body.replace("args = sys.argv[1:]", "args = sys.argv[3:]")
        exe.write_text(body)
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return bindir


def src(case, body="theorem t : 1 + 1 = 2 := by\n  norm_num\n"):
    return f"-- CASE:{case}\n{body}"


def test_accepted(fake_lean):
    r = check_lean(src("accepted"))
    assert r.status == "checked" and r.messages == [] and r.command[0].endswith("lean")


def test_error_with_line_and_column(fake_lean):
    r = check_lean(src("error", "theorem t : 1 + 1 = 2 := by\n  exact foo\n"))
    assert r.status == "rejected"
    (m,) = r.errors
    assert (m.line, m.column) == (3, 4) and "foo" in m.text and m.source_line.strip() == "exact foo"
    issues = lean_issues(r)
    assert issues[0].severity == "critical" and issues[0].source == "lean" and "line 3" in issues[0].description


def test_sorry_warning_is_not_checked(fake_lean):
    r = check_lean(src("sorry"))
    assert r.status == "rejected" and "sorry" in r.reason


def test_sorry_in_source_is_not_checked_even_if_lean_is_silent(fake_lean):
    r = check_lean(src("accepted", "theorem t : 1 + 1 = 2 := by\n  sorry\n"))
    assert r.status == "rejected"


def test_timeout_is_unavailable(fake_lean):
    r = check_lean(src("timeout"), timeout=1)
    assert r.status == "unavailable" and "within" in r.reason


def test_missing_init_is_unavailable(fake_lean):
    r = check_lean(src("noinit"))
    assert r.status == "unavailable" and "Init" in r.reason


def test_crash_without_diagnostics_is_unavailable(fake_lean):
    assert check_lean(src("crash")).status == "unavailable"


def test_information_messages_do_not_reject(fake_lean):
    assert check_lean(src("info")).status == "checked"


def test_lake_project(fake_lean, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    r = check_lean(src("accepted"), project=proj)
    assert r.status == "checked" and r.command[1:3] == ["env", "lean"]
    r = check_lean(src("error"), project=proj)
    assert r.status == "rejected" and r.errors[0].line == 3


def test_no_toolchain_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "no-elan"))
    r = check_lean(src("accepted"))
    assert r.status == "unavailable" and "PATH" in r.reason
    r = check_lean(src("accepted"), project=tmp_path)
    assert r.status == "unavailable"


@pytest.mark.parametrize("code", [
    '#eval IO.println "hi"',
    "run_cmd Lean.logInfo \"x\"",
    "def f : IO Unit := IO.Process.exit 0",
    "initialize foo : Nat ← pure 0",
    "elab \"evil\" : tactic => do pure ()",
    "@[extern \"system\"] opaque sys : Nat → Nat",
    "axiom cheat : False",
    "unsafe def g : Nat := 0",
    "import Evil.Module",
    "set_option debug.skipKernelTC true",
])
def test_dangerous_code_refused_before_compiling(fake_lean, tmp_path, code):
    marker = tmp_path / "ran"
    # the fake lean would create the marker if it were run at all
    (fake_lean / "lean").write_text(f"#!{sys.executable}\nopen({str(marker)!r}, 'w').close()\n")
    r = check_lean(src("accepted", code + "\n"))
    assert r.status == "refused" and not marker.exists()
    assert refusal(code)


def test_comments_are_not_refused():
    assert refusal("-- we never #eval anything here\n/- IO is mentioned in a comment -/\ntheorem t : True := trivial") is None


def test_parse_messages_ignores_noise():
    out = 'not json\n{"severity":"error","pos":{"line":1,"column":0},"data":"bad"}\n{broken\n[1,2]\n'
    (m,) = parse_messages(out, "theorem x : False := rfl\n")
    assert m.severity == "error" and m.source_line.startswith("theorem")


def test_formal_source_from_problem_statement():
    stmt = "import Mathlib\n\ntheorem p1 (n : ℕ) (h : 0 < n) : n ≥ 1 := by sorry"
    proof = "Informal text.\n\n```lean4\ntheorem p1 (n : ℕ) (h : 0 < n) :\n    n ≥ 1 := by\n  omega\n```\n"
    source, note = formal_source(proof, stmt)
    assert source.startswith("import Mathlib") and "omega" in source and note == ""
    other = "```lean\ntheorem p1 (n : ℕ) : n ≥ 0 := by\n  omega\n```"
    source, note = formal_source(other, stmt)
    assert source is None and "does not state" in note
    assert formal_source("no code", stmt)[0] is None
    # IMO-ProofBench statements carry the problem in a doc comment (which may hold ":=") before the theorem
    stmt2 = "import Mathlib\n\n/-\nShow x := 1 works.\n-/\ntheorem q : (1 : ℕ) = 1 := by sorry"
    source, note = formal_source("```lean\ntheorem q : (1 : ℕ) = 1 := by\n  rfl\n```", stmt2)
    assert source is not None and note == "" and source.startswith("import Mathlib")


def test_split_tactics():
    code = "theorem t : a := by\n  intro x\n  cases x with\n  | inl h => simp\n  simp at h\n    exact h\n"
    assert split_tactics(code) == ["intro x", "cases x with", "| inl h => simp", "simp at h\n  exact h"]


def test_dojo_adapter_degrades_when_absent():
    from verifier.lean import check_with_dojo, dojo_available
    if dojo_available():
        pytest.skip("lean-dojo is installed")
    r = check_with_dojo("https://example.invalid/repo", "0" * 40, "X.lean", "t", ["simp"])
    assert r.status == "unavailable"
    assert check_with_dojo("u", "c", "f", "t", ["#eval 1"]).status == "refused"


def test_evidence_with_fake_lean(fake_lean):
    prob = Problem(id="t", statement="1+1=2", lean_statement="theorem t : 1 + 1 = 2 := by sorry")
    proof = "Clearly $1+1=2$.\n\n```lean\n-- CASE:error\ntheorem t : 1 + 1 = 2 := by\n  exact foo\n```\n"
    ev = exact_evidence(prob, proof, lean=True)
    assert ev.lean.status == "rejected" and any(i.source == "lean" for i in ev.issues)
    assert ev.to_dict()["lean"]["messages"][0]["line"] == 3


@pytest.mark.skipif(shutil.which("lean") is None, reason="needs a real `lean` on PATH")
def test_real_lean():
    ok = check_lean("theorem t : 1 + 1 = 2 := rfl\n", timeout=HANG_GUARD)
    if ok.status == "unavailable":
        pytest.skip(ok.reason)
    assert ok.status == "checked", ok.reason
    bad = check_lean("theorem t : 1 + 1 = 3 := rfl\n", timeout=HANG_GUARD)
    assert bad.status == "rejected" and bad.errors and bad.errors[0].line == 1
    sorry = check_lean("theorem t : 1 + 1 = 3 := by sorry\n", timeout=HANG_GUARD)
    assert sorry.status == "rejected"
