"""Checking a formal (Lean 4) version of a proof with the user's own toolchain.

`lake env lean --json FILE` runs inside a Lake project given by the user (for Mathlib); otherwise `lean --json`
from PATH. A proof is `checked` only when Lean exits 0 with no error and no `sorry`; it is `rejected` when Lean
reports errors (each mapped to a line of the formal text); it is `unavailable` when no toolchain is found, Lean
times out, or its own library (`Init`, or Mathlib without a project) is missing: a broken set-up never reads as a
wrong proof. A formal proof is untrusted code, so commands that run code at elaboration time (`#eval`, `run_cmd`,
`IO`, `initialize`, custom elaborators, `extern`) are `refused` before anything is compiled.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from verifier.errors import VerifierError
from verifier.verification import Issue

DEFAULT_TIMEOUT = 300.0

# Source patterns that could run code or smuggle in unproved facts; refused before compiling.
FORBIDDEN = [
    (re.compile(r"#eval\b|#exit\b|#run\b"), "#eval / #exit runs code"),
    (re.compile(r"\brun_cmd\b|\brun_tac\b|\brun_elab\b|\brun_meta\b|\bby_elab\b"), "run_cmd-style commands run code"),
    (re.compile(r"\bIO\b|\bIO\.|\bSystem\.|\bProcess\b|\bFS\."), "IO and system access"),
    (re.compile(r"\b(?:builtin_)?initialize\b"), "initialize runs code when loaded"),
    (re.compile(r"^\s*(?:@\[[^\]]*\]\s*)?(?:elab|elab_rules|command_elab|term_elab|tactic_elab)\b", re.MULTILINE),
     "custom elaborators run code"),
    (re.compile(r"@\[\s*(?:extern|implemented_by|export|command_elab|term_elab|tactic)\b"), "code attributes"),
    (re.compile(r"\bunsafe\b"), "unsafe definitions"),
    (re.compile(r"^\s*axiom\b", re.MULTILINE), "new axioms would prove anything"),
    (re.compile(r"\bdebug\.skipKernelTC\b|\bsetOption\b"), "switching off the kernel check"),
]
SORRY = re.compile(r"\bsorry\b|\badmit\b|\bsorryAx\b")
ALLOWED_IMPORTS = re.compile(r"^(?:Mathlib|Init|Std|Batteries|Aesop|Qq|Lean)(?:\.|$)")
MISSING_LIBRARY = re.compile(
    r"unknown package '(?:Init|Mathlib|Std|Batteries)'|object file .* of module (?:Init|Mathlib)\S* does not exist|"
    r"file '?(?:Init|Mathlib)\S*'? not found|unknown module prefix '(?:Init|Mathlib)'|could not find native "
    r"implementation|failed to load header|no such file or directory.*\.olean",
    re.IGNORECASE,
)


@dataclass
class LeanMessage:
    severity: str  # error | warning | information
    line: int | None
    column: int | None
    text: str
    source_line: str = ""  # the formal text's line the message points at

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LeanResult:
    status: str  # checked | rejected | unavailable | refused
    reason: str = ""
    messages: list[LeanMessage] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failing_tactic: str | None = None  # set by the lean-dojo adapter

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def errors(self) -> list[LeanMessage]:
        return [m for m in self.messages if m.severity == "error"]


def refusal(source: str) -> str | None:
    """Why a formal text is refused before compiling, or None when it may be compiled."""
    code = _strip_comments(source)
    for pat, why in FORBIDDEN:
        m = pat.search(code)
        if m:
            return f"{why} ({m.group(0).strip()!r})"
    for m in re.finditer(r"^\s*import\s+(.+)$", code, re.MULTILINE):
        for mod in m.group(1).split():
            if not ALLOWED_IMPORTS.match(mod):
                return f"import of {mod!r} (only Mathlib, Init, Std, Batteries, Aesop, Qq, Lean may be imported)"
    return None


def _strip_comments(source: str) -> str:
    out = re.sub(r"/-.*?-/", lambda m: "\n" * m.group(0).count("\n"), source, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", "", out)


def lean_command(project: Path | None = None, lean: str | None = None) -> list[str] | None:
    """The command prefix to run, or None when no toolchain is found."""
    if project is not None:
        lake = _which("lake")
        return [lake, "env", "lean", "--json"] if lake else None
    exe = lean or _which("lean")
    return [exe, "--json"] if exe else None


def _which(name: str) -> str | None:
    """PATH first, then elan's default install folder (elan's installer does not always reach PATH)."""
    found = shutil.which(name)
    if found:
        return found
    elan = Path(os.environ.get("ELAN_HOME", Path.home() / ".elan")) / "bin" / name
    return str(elan) if elan.is_file() and os.access(elan, os.X_OK) else None


def parse_messages(stdout: str, source: str) -> list[LeanMessage]:
    """Lean's `--json` output (one JSON object per line) as messages pinned to lines of `source`."""
    lines = source.splitlines()
    out = []
    for raw in stdout.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            d = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if not isinstance(d, dict):
            continue
        pos = d.get("pos") or {}
        line = pos.get("line") if isinstance(pos, dict) else None
        col = pos.get("column") if isinstance(pos, dict) else None
        text = str(d.get("data", d.get("text", "")))
        src = lines[line - 1] if isinstance(line, int) and 0 < line <= len(lines) else ""
        out.append(LeanMessage(str(d.get("severity", "information")), line, col, text, src))
    return out


def check_lean(source: str, project: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT,
               lean: str | None = None) -> LeanResult:
    """Compile one Lean 4 file's text and say whether it is a complete, sorry-free proof."""
    why = refusal(source)
    if why:
        return LeanResult("refused", f"refused before compiling: {why}")
    proj = Path(project).resolve() if project is not None else None
    if proj is not None and not proj.is_dir():
        raise VerifierError(f"--lean-project {project}: not a directory; give the root of a Lake project")
    cmd = lean_command(proj, lean)
    if cmd is None:
        what = "`lake`" if proj is not None else "`lean`"
        return LeanResult("unavailable", f"no Lean toolchain: {what} is not on PATH (install elan, or give "
                                         "--lean-project DIR)")
    with tempfile.TemporaryDirectory(prefix="proofloop-lean-") as tmp:
        path = Path(tmp) / "Proof.lean"
        path.write_text(source, encoding="utf-8")
        full = cmd + [str(path)]
        t0 = time.monotonic()
        try:
            proc = subprocess.run(full, cwd=str(proj) if proj else tmp, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL, env=os.environ.copy())
        except subprocess.TimeoutExpired:
            return LeanResult("unavailable", f"Lean did not finish within {timeout:g}s", command=full,
                              seconds=time.monotonic() - t0)
        except OSError as exc:
            return LeanResult("unavailable", f"could not run Lean: {exc}", command=full)
        seconds = time.monotonic() - t0
    messages = parse_messages(proc.stdout, source)
    everything = proc.stdout + "\n" + proc.stderr
    result = LeanResult("rejected", "", messages, full, seconds)
    if MISSING_LIBRARY.search(everything):
        result.status = "unavailable"
        result.reason = "Lean's library is missing (Init or Mathlib not found): give a --lean-project with Mathlib"
        return result
    errors = result.errors
    sorry = [m for m in messages if "sorry" in m.text.lower()]
    if errors:
        first = errors[0]
        result.reason = f"{len(errors)} error(s); first at line {first.line}: {first.text.splitlines()[0][:200]}"
    elif sorry or SORRY.search(_strip_comments(source)):
        result.reason = "the proof uses sorry"
    elif proc.returncode != 0:
        if not messages:
            result.status = "unavailable"
            result.reason = f"Lean exited with status {proc.returncode} without diagnostics: " \
                            f"{proc.stderr.strip()[:200]}"
        else:
            result.reason = f"Lean exited with status {proc.returncode}"
    else:
        result.status = "checked"
        result.reason = "Lean accepted the proof: exit 0, no errors, no sorry"
    return result


# ------------------------------------------------------------------ formal text from a problem and a proof

_LEAN_BLOCK = re.compile(r"```(?:lean4?|Lean4?)\s*\n(.*?)```", re.DOTALL)


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", _strip_comments(s)).strip()


def formal_source(proof_text: str, lean_statement: str | None = None) -> tuple[str | None, str]:
    """The Lean text to compile for a proof: its ```lean blocks. With the problem's formal statement, the
    blocks must state that very theorem (its text up to `:=`, spacing aside). Returns (source or None, note)."""
    blocks = _LEAN_BLOCK.findall(proof_text)
    if not blocks:
        return None, "the proof has no ```lean block"
    source = "\n\n".join(b.strip("\n") for b in blocks) + "\n"
    if lean_statement:
        head = _strip_comments(lean_statement).split(":=")[0]
        head = re.sub(r"^\s*import[^\n]*\n", "", head, flags=re.MULTILINE)
        head = re.sub(r"^\s*open[^\n]*\n", "", head, flags=re.MULTILINE)
        head = _squash(head)
        if head and head not in _squash(source):
            return None, "the formal proof does not state the problem's Lean theorem"
        if not re.search(r"^\s*import\b", source, re.MULTILINE):
            imports = "".join(l + "\n" for l in lean_statement.splitlines() if l.strip().startswith(("import", "open")))
            source = imports + "\n" + source
    return source, ""


def lean_issues(result: LeanResult) -> list[Issue]:
    if result.status != "rejected":
        return []
    if not result.errors:
        return [Issue(severity="critical", source="lean", description=f"Lean check failed: {result.reason}",
                      evidence=result.reason)]
    return [Issue(severity="critical", source="lean", quote=m.source_line.strip() or None,
                  description=f"Lean error at line {m.line}, column {m.column}: {m.text.splitlines()[0][:300]}",
                  evidence=m.text[:1000]) for m in result.errors]


# ------------------------------------------------------------------ optional lean-dojo adapter

def dojo_available() -> bool:
    try:
        import lean_dojo  # noqa: F401
    except Exception:
        return False
    return True


def split_tactics(source: str) -> list[str]:
    """The top-level tactics of the first `:= by` block (one per line at the block's indentation)."""
    m = re.search(r":=\s*by\b[ \t]*\n?", source)
    if not m:
        return []
    body = source[m.end():].splitlines()
    body = [l for l in body if l.strip()]
    if not body:
        return []
    indent = len(body[0]) - len(body[0].lstrip())
    tactics: list[str] = []
    for line in body:
        cur = len(line) - len(line.lstrip())
        if cur < indent:
            break
        if cur == indent or not tactics:
            tactics.append(line.strip())
        else:
            tactics[-1] += "\n" + line[indent:]
    return tactics


def check_with_dojo(repo_url: str, commit: str, file_path: str, theorem: str, tactics: list[str],
                    timeout: float = DEFAULT_TIMEOUT) -> LeanResult:
    """Replay `tactics` on a theorem of a traced git repository with lean-dojo, one tactic at a time, and name
    the first tactic that fails. `unavailable` when lean-dojo is not installed ([lean] extra) or cannot start."""
    for tac in tactics:
        why = refusal(tac)
        if why:
            return LeanResult("refused", f"refused before running: {why}")
    try:
        from lean_dojo import Dojo, LeanGitRepo, ProofFinished, Theorem  # type: ignore
    except Exception as exc:  # not installed, or a broken install
        return LeanResult("unavailable", f"lean-dojo is not available: {exc}")
    t0 = time.monotonic()
    try:
        thm = Theorem(LeanGitRepo(repo_url, commit), file_path, theorem)
        with Dojo(thm, timeout=int(timeout)) as (dojo, state):
            for k, tac in enumerate(tactics, 1):
                state = dojo.run_tac(state, tac)
                name = type(state).__name__
                if name in ("LeanError", "ProofGivenUp", "TimeoutError"):
                    msg = getattr(state, "error", name)
                    return LeanResult("rejected", f"tactic {k} failed: {msg}",
                                      [LeanMessage("error", None, None, str(msg), tac)],
                                      seconds=time.monotonic() - t0, failing_tactic=tac)
            if isinstance(state, ProofFinished):
                return LeanResult("checked", "every tactic ran and the proof is finished",
                                  seconds=time.monotonic() - t0)
            return LeanResult("rejected", "goals remain after the last tactic", seconds=time.monotonic() - t0)
    except Exception as exc:  # lean-dojo's own set-up failures (tracing, docker, network)
        return LeanResult("unavailable", f"lean-dojo could not run: {type(exc).__name__}: {exc}",
                          seconds=time.monotonic() - t0)
