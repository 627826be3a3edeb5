import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD, LIMIT_GONE

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
def answer_axioms():  # like real Lean: one information message per `#print axioms NAME` line
    for n, text in enumerate(src.splitlines(), 1):
        if text.startswith("#print axioms "):
            used = "CASE:axiom" in src and "depends on axioms: [propext, cheat]" or "does not depend on any axioms"
            msg("information", n, 0, "'" + text.split()[-1] + "' " + used)
if "CASE:accepted" in src or "CASE:axiom" in src:
    answer_axioms()
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
    answer_axioms()
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
    text = "-- we never #eval anything here\n/- IO is mentioned in a comment -/\ntheorem t : True := trivial"
    assert refusal(text) is None


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


# ------------------------------------------------------------------ the token scan: hiders x payloads

PAYLOADS = [
    '#eval IO.Process.run {cmd := "touch", args := #["/tmp/x"]}',
    "#guard 1 = 1",
    "#exit",
    'run_cmd Lean.logInfo "x"',
    "axiom cheat : False",
    "private axiom cheat : False",
    "protected axiom cheat : False",
    "@[simp] axiom cheat : False",
    'local elab "x" : term => pure (Lean.mkNatLit 1)',
    'scoped elab "x" : term => pure (Lean.mkNatLit 1)',
    'macro "m" : command => `(#eval 1)',
    'syntax "m" : command',
    "macro_rules | `(m) => `(#eval 1)",
    "@[simp, implemented_by g] def f (n : Nat) : Nat := n",
    "@[implemented_by g] def f (n : Nat) : Nat := n",
    "attribute [implemented_by g] f",
    "attribute [local simp, extern \"c\"] f",
    "@[extern \"system\"] opaque sys : Nat → Nat",
    "@[export evil] def f := 1",
    "@[init g] def f : Nat := 1",
    "initialize foo : Nat ← pure 0",
    "unsafe def g : Nat := 0",
    "set_option debug.skipKernelTC true",
    "theorem a : True := trivial axiom cheat : False",
    "simproc s (f _) := fun _ => pure .continue",
    "def f : IO Unit := IO.Process.exit 0",
    "def s := s!\"{IO.println 1}\"",
    "import Evil.Module",
    "import Mathlib Evil.Module",
    "some_library_command foo",
]
# Text before the payload that a regex scan reads as an open comment or string, though Lean does not.
HIDERS = [
    "",
    'def s := "/-"\n',
    'def s := "--"\n',
    "def c := '\"'\n",
    'def s := r#"/-"#\n',
    'def s := r"/-"\n',
    "/- a /- nested -/ comment -/\n",
    'def s := "\\"/-"\n',
    'def s := s!"{"/-"}"\n',
    "def h' := 1\n",
]


@pytest.mark.parametrize("hider", HIDERS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_scan_sees_every_payload_behind_every_hider(hider, payload):
    assert refusal(hider + payload + "\n"), hider + payload
    if payload.startswith(("import", "some_library_command")):
        return  # only legal at the start of a file / caught at the start of a line
    same_line = hider.rstrip("\n") + " " + payload + "\n"  # after an earlier command on the same line
    assert refusal(same_line), same_line


@pytest.mark.parametrize("text", [
    "/- #eval IO.println 1 -/\ntheorem t : True := trivial\n",
    "/- /- #eval -/ still a comment: axiom x : False -/\ntheorem t : True := trivial\n",
    "-- #eval 1\ntheorem t : True := trivial\n",
    'theorem t : "#eval 1 axiom IO" = "#eval 1 axiom IO" := rfl\n',
    "/-- A doc comment that mentions `#eval` and `axiom`. -/\ntheorem t : True := trivial\n",
    "@[simp] theorem t (n : Nat) : n + 0 = n := rfl\nattribute [local simp] t\n",
    "set_option maxHeartbeats 400000 in\ntheorem t : True := trivial\n",
    "namespace A\ntheorem t : True := trivial\nend A\n#print axioms A.t\n",
])
def test_scan_allows_what_proofs_use(text):
    assert refusal(text) is None


def test_unterminated_comment_or_string_is_refused():
    for text in ("theorem t : True := trivial\n/- ", 'def s := "abc\n', "/- /- -/\n#eval 1\n"):
        assert "does not lex" in refusal(text)


def test_lexer_is_linear_on_hostile_text():
    import time

    from verifier.lean_lexer import tokenize
    for chunk in ("/-", '"\\', "«", "s!\"{", "'", "r##\"", "a.", "-/"):
        text = chunk * 100_000
        t0 = time.monotonic()
        try:
            tokenize(text)
        except ValueError:
            pass
        assert time.monotonic() - t0 < LIMIT_GONE, chunk  # quadratic: hours on this size


# ------------------------------------------------------------------ the sandbox and Lean's own axiom answer

SPY = r'''#!{python}
import json, os, resource, subprocess, sys, time
src = open(sys.argv[-1], encoding="utf-8").read()
json.dump({{"env": dict(os.environ), "as": resource.getrlimit(resource.RLIMIT_AS),
           "cpu": resource.getrlimit(resource.RLIMIT_CPU), "cwd": os.getcwd(), "file": sys.argv[-1]}},
          open({out!r}, "w"))
if "CASE:hang" in src:
    child = subprocess.Popen(["sleep", "60"])
    open({out!r} + ".child", "w").write(str(child.pid))
    time.sleep(60)
sys.exit(0)
'''


def _spy(tmp_path, monkeypatch):
    out = tmp_path / "spy.json"
    exe = tmp_path / "lean"
    exe.write_text(SPY.format(python=sys.executable, out=str(out)))
    exe.chmod(0o755)
    return str(exe), out


def test_lean_runs_with_a_scrubbed_environment_and_limits(tmp_path, monkeypatch):
    import json
    lean, out = _spy(tmp_path, monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("LEAN_PATH", "/some/oleans")
    r = check_lean("theorem t : True := trivial\n", lean=lean, memory_mb=2048, timeout=30)
    seen = json.loads(out.read_text())
    assert not any("KEY" in k or "SECRET" in k for k in seen["env"])
    assert seen["env"]["LEAN_PATH"] == "/some/oleans" and "PATH" in seen["env"]
    assert seen["env"]["TMPDIR"] == seen["cwd"] and seen["file"].startswith(seen["cwd"])
    assert not os.path.exists(seen["cwd"])  # the private temp dir is gone afterwards
    assert seen["as"][0] == 2048 << 20 and 0 < seen["cpu"][0] < 10_000
    assert r.status == "unavailable" and "#print axioms" in r.reason  # the spy never answered the axiom question


def test_timeout_kills_the_whole_process_group(tmp_path, monkeypatch):
    lean, out = _spy(tmp_path, monkeypatch)
    r = check_lean("-- CASE:hang\ntheorem t : True := trivial\n", lean=lean, timeout=2)
    assert r.status == "unavailable" and "within 2s" in r.reason
    pid = int((tmp_path / "spy.json.child").read_text())
    import time
    for _ in range(50):  # the killed child is reaped by init; give it a moment
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("Lean's child process survived the timeout")


def test_axiom_reported_by_lean_rejects(fake_lean):
    r = check_lean(src("axiom"))
    assert r.status == "rejected" and "axiom cheat" in r.reason and r.axioms["t"] == ["propext", "cheat"]


def test_setup_faults_and_missing_imports(tmp_path):
    def fake(stderr_or_msg):
        exe = tmp_path / "lean"
        exe.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps({{'severity': 'error', "
                       f"'pos': {{'line': 1, 'column': 0}}, 'data': {stderr_or_msg!r}}}))\nsys.exit(1)\n")
        exe.chmod(0o755)
        return check_lean("import Mathlib.Foo\ntheorem t : True := trivial\n", lean=str(exe))
    r = fake("failed to read file '/x/Init.olean', incompatible header")
    assert r.status == "unavailable" and "another Lean version" in r.reason
    r = fake("object file '/x/Mathlib/Foo.olean' of module Mathlib.Foo does not exist")
    assert r.status == "rejected" and "Mathlib.Foo" in r.reason
    r = fake("unknown module prefix 'Mathlib'\n\nNo directory 'Mathlib' or file 'Mathlib.olean'")
    assert r.status == "unavailable" and "Mathlib" in r.reason


def test_declared_names_follow_namespaces():
    from verifier.lean import declared_names
    from verifier.lean_lexer import tokenize
    text = ("namespace A\nprivate theorem p : True := trivial\nsection\ndef d := 1\nend\nnamespace B\n"
            "theorem _root_.r : True := trivial\nlemma q : True := trivial\nend B\nend A\n"
            "instance (priority := low) inst : Inhabited Nat := ⟨0⟩\nexample : True := trivial\n")
    assert declared_names(tokenize(text)) == ["A.p", "A.d", "r", "A.B.q", "inst"]


# ------------------------------------------------------------------ the real Lean 4 from ../shared/reallean

def _reallean() -> str | None:
    import tempfile
    root = os.environ.get("REALLEAN") or os.path.join(tempfile.gettempdir(), "reallean")
    exe = os.path.join(root, "bin", "lean")
    return exe if os.access(exe, os.X_OK) else None


needs_reallean = pytest.mark.skipif(_reallean() is None, reason="no real Lean: run `bash ../shared/reallean/setup.sh`"
                                    " (or set REALLEAN to its folder)")


@pytest.fixture(scope="module")
def real_lean():
    exe = _reallean()
    r = check_lean("theorem t (a b : Nat) : a + b = b + a := Nat.add_comm a b\n", lean=exe, timeout=120)
    if r.status == "unavailable":
        pytest.skip(f"real Lean at {exe} does not run: {r.reason}")
    assert r.status == "checked", r.reason
    return exe


REAL_CASES = [
    ("theorem t (a b : Nat) : a + b = b + a := Nat.add_comm a b\n", "checked", "axioms: none"),
    ("theorem t : 2 + 2 = 5 := by decide\n", "rejected", "error"),
    ("theorem t : 2 + 2 = 4 := by sorry\n", "rejected", "sorry"),
    ("private axiom cheat : False\ntheorem t : 2 + 2 = 5 := cheat.elim\n", "refused", "axiom"),
    ("namespace N\nprotected axiom cheat : False\nend N\ntheorem t : 2 + 2 = 5 := N.cheat.elim\n", "refused", "axiom"),
    ("@[simp] axiom cheat : False\ntheorem t : 2 + 2 = 5 := cheat.elim\n", "refused", "axiom"),
    ("theorem a : 1 = 1 := rfl axiom cheat : False\ntheorem t : 2 + 2 = 5 := cheat.elim\n", "refused", "axiom"),
    ("theorem t : 10 + 10 = 20 := by native_decide\n", "rejected", "compiled code"),
    ("example : 10 + 10 = 20 := by native_decide\n", "rejected", "compiled code"),
    ('def s := "/-"\n#eval IO.Process.run {cmd := "touch", args := #["/tmp/pwn"]}\ndef u := "-/"\n', "refused",
     "#eval"),
    ('namespace N\nlocal elab "x" : term => pure (Lean.mkNatLit 1)\nend N\n', "refused", "elaborators"),
    ('namespace N\nscoped elab "x" : term => pure (Lean.mkNatLit 1)\nend N\n', "refused", "elaborators"),
    ("def g (n : Nat) : Nat := n\n@[simp, implemented_by g] def f (n : Nat) : Nat := n\n", "refused",
     "implemented_by"),
    ("def g (n : Nat) : Nat := n\ndef f (n : Nat) : Nat := n\nattribute [implemented_by g] f\n", "refused",
     "implemented_by"),
    ("#guard 1 = 1\n", "refused", "#guard"),
    ('macro "m" : command => `(#eval 1)\nm\n', "refused", "macros"),
    ("import Init.Nope\ntheorem t : 1 = 1 := rfl\n", "rejected", "Init.Nope"),
    ("import Mathlib\ntheorem t : 1 = 1 := rfl\n", "unavailable", "Mathlib"),
    ("namespace A\nprivate theorem p : 1 = 1 := rfl\nend A\n", "checked", "1 declaration"),
]


@needs_reallean
@pytest.mark.parametrize("text,status,why", REAL_CASES)
def test_real_lean_cases(real_lean, text, status, why, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = check_lean(text, lean=real_lean, timeout=120)
    assert r.status == status and why in r.reason, (r.status, r.reason)
    assert not os.path.exists("/tmp/pwn") or status != "refused"


@needs_reallean
@pytest.mark.parametrize("extra,why", [
    ("axiom cheat : False\ntheorem t : 2 + 2 = 5 := cheat.elim\n", "depends on the axiom cheat"),
    ("theorem t : 10 + 10 = 20 := by native_decide\n", "compiled code"),
])
def test_real_lean_axiom_gate_alone(real_lean, monkeypatch, extra, why):
    """With the token scan switched off, Lean's own #print axioms still rejects what the scan would refuse."""
    import verifier.lean as lean_mod
    monkeypatch.setattr(lean_mod, "_token_refusal", lambda tokens, fragment=False: None)
    monkeypatch.setattr(lean_mod, "NATIVE_WORDS", set())
    r = check_lean(extra, lean=real_lean, timeout=120)
    assert r.status == "rejected" and why in r.reason, r.reason


@needs_reallean
def test_real_lean_output_forms(real_lean):
    text = "theorem ok : 1 = 1 := rfl\ntheorem t : 1 = 2 := rfl\n"
    r = check_lean(text, lean=real_lean, timeout=120)
    assert r.status == "rejected"
    m = r.errors[-1]
    assert m.line == 2 and m.column == text.splitlines()[1].index("rfl")  # Lean's columns are 0-based
    assert m.source_line.startswith("theorem t") and "column 22" in lean_issues(r)[-1].description
    s = check_lean("theorem t : 2 + 2 = 4 := by sorry\n", lean=real_lean, timeout=120)
    (w,) = [m for m in s.messages if m.severity == "warning"]
    assert w.kind == "hasSorry" and "`sorry`" in w.text and s.reason == "the proof uses sorry"


@needs_reallean
def test_real_lean_toolchain_mismatch_is_unavailable(real_lean, tmp_path):
    root = Path(real_lean).parent.parent
    bad = tmp_path / "oleans"
    shutil.copytree(root / "out", bad)
    olean = bad / "Init.olean"
    data = bytearray(olean.read_bytes())
    at = data.find(b"4.35.0") + 40  # inside the header's git hash, which Lean compares with its own
    data[at:at + 8] = b"00000000"
    olean.write_bytes(bytes(data))
    wrapper = tmp_path / "lean"
    wrapper.write_text(f'#!/bin/sh\nLD_LIBRARY_PATH="{root}/lib" LEAN_PATH="{bad}" exec "{root}/stub/lean-real" "$@"\n')
    wrapper.chmod(0o755)
    r = check_lean("theorem t : 1 = 1 := rfl\n", lean=str(wrapper), timeout=120)
    assert r.status == "unavailable" and "incompatible" in r.reason, r.reason


@needs_reallean
def test_real_lean_under_a_memory_limit_too_small_is_unavailable(real_lean):
    r = check_lean("theorem t (a b : Nat) : a + b = b + a := Nat.add_comm a b\n", lean=real_lean, memory_mb=512)
    assert r.status == "unavailable", r.reason
