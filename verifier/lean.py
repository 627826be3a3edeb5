"""Checking a formal (Lean 4) version of a proof with the user's own toolchain.

`lake env lean --json FILE` runs inside a Lake project given by the user (for Mathlib); otherwise `lean --json`
from PATH. A formal proof is untrusted code, so it goes through three gates:
1. a scan of its tokens (verifier.lean_lexer, Lean's own comment/string rules) before anything is compiled: only
   commands, attributes and options a proof needs; anything that runs code while Lean elaborates (`#eval`,
   `#guard`, `run_cmd`, macros and elaborators, `initialize`, `implemented_by`/`extern`, `unsafe`, IO) or adds an
   `axiom` is `refused`;
2. Lean itself, run with a scrubbed environment, CPU/memory limits, a timeout that kills its process group, and a
   private temp dir;
3. Lean's own `#print axioms` for every named declaration, appended after the proof: only `propext`,
   `Classical.choice` and `Quot.sound` are accepted; `sorryAx`, native_decide's compiled-code axioms or any other
   axiom make the proof `rejected`, with the reason.
`checked` means all three passed with no error and no `sorry`. `rejected`: Lean's errors (each pinned to a line),
sorry, a bad axiom, or an import the proof asks for that does not exist. `unavailable`: no toolchain, a timeout or
a resource limit, a library that is not installed or was built by another Lean (`incompatible header`): a broken
set-up never reads as a wrong proof.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from verifier.errors import VerifierError
from verifier.lean_lexer import LexError, Token, tokenize
from verifier.verification import Issue

DEFAULT_TIMEOUT = 300.0
# Address space for Lean (RLIMIT_AS). Lean reserves much of it up front for its worker threads (4.35 could not start
# its threads below 8 GiB on a 2-core machine) and Mathlib maps its .olean files, so the limit is generous.
DEFAULT_MEMORY_MB = 16384

# --- the scan before compiling: what a proof may contain. Lean's own check after compiling (#print axioms) is the
# authority on what a proof rests on; this scan keeps code from running while Lean compiles.

# Command-position words a proof needs; a line that starts (at column 0) with any other word is refused, so an
# unknown command from an imported library cannot slip through.
COMMAND_WORDS = {
    "import", "open", "namespace", "section", "end", "variable", "universe", "theorem", "lemma", "def", "abbrev",
    "instance", "example", "structure", "inductive", "class", "noncomputable", "private", "protected", "set_option",
    "attribute", "mutual", "notation", "infix", "infixl", "infixr", "prefix", "postfix", "local", "scoped",
    "opaque", "deriving", "termination_by", "decreasing_by", "where", "omit", "include", "export", "alias",
    "irreducible_def", "nonrec", "partial", "by", "in",
}
HASH_COMMANDS = {"#check", "#print", "#reduce", "#synth"}  # they only show things; #eval, #guard, #exit... run code
# Attributes a proof may use: they tag lemmas for tactics. Others register code (implemented_by, extern, export,
# init, command_elab, tactic extensions) and are refused wherever they appear.
ATTRIBUTES = {
    "simp", "reducible", "irreducible", "semireducible", "instance", "inline", "noinline", "specialize", "ext",
    "congr", "refl", "symm", "trans", "elab_as_elim", "match_pattern", "induction_eliminator", "cases_eliminator",
    "class", "default_instance", "nolint", "norm_cast", "push_cast", "mono", "gcongr", "aesop", "fun_prop",
    "continuity", "measurability", "to_additive", "simps", "grind", "deprecated", "coe", "bound", "field_simps",
    "zify_simps", "qify_simps", "mfld_simps", "ring_nf", "local", "scoped",
}
SAFE_OPTIONS = re.compile(r"^(?:maxHeartbeats|maxRecDepth|autoImplicit|relaxedAutoImplicit|synthInstance\.\w+|"
                          r"linter\.[\w.]+|pp\.[\w.]+|trace\.[\w.]+|exponentiation\.threshold|maxSynthPendingDepth|"
                          r"tactic\.[\w.]+|push_neg\.[\w.]+|simprocs)$")
# Words refused wherever they appear (Lean reserves command keywords, so they cannot be ordinary names).
DENIED = [
    (re.compile(r"^(?:run_\w+|by_elab)$"), "run_cmd-style commands run code"),
    (re.compile(r"^(?:\w*elab(?:_rules)?|\w*macro(?:_rules)?|\w*syntax\w*|notation3|\w+_cmd)$"),
     "custom syntax, macros and elaborators (they can expand to or run code)"),
    (re.compile(r"^(?:initialize\w*|builtin_\w+|register_\w+|declare_\w+)$"), "initialize-style commands run code"),
    (re.compile(r"^d?simproc\w*$"), "simprocs run code"),
    (re.compile(r"^(?:unsafe\w*|\w*Unsafe|implemented_by|extern)$"), "unsafe code"),
    (re.compile(r"^axiom$"), "new axioms would prove anything"),
    (re.compile(r"^(?:IO|EIO|BaseIO|System|Process|FS)$"), "IO and system access"),
    (re.compile(r"^(?:MetaM|TacticM|TermElabM|CommandElabM|CoreM|MacroM)$"), "meta-programming"),
]
SORRY_WORDS = {"sorry", "admit", "sorryAx"}
NATIVE_WORDS = {"native_decide", "ofReduceBool", "ofReduceNat", "trustCompiler"}
STANDARD_AXIOMS = {"propext", "Classical.choice", "Quot.sound"}
ALLOWED_IMPORTS = re.compile(r"^(?:Mathlib|Init|Std|Batteries|Aesop|Qq|Lean)(?:\.|$)")
DECLARATION_WORDS = {"theorem", "lemma", "def", "abbrev", "instance", "opaque"}


@dataclass
class LeanMessage:
    severity: str  # error | warning | information
    line: int | None  # 1-based, as Lean gives it
    column: int | None  # 0-based, as Lean gives it
    text: str
    source_line: str = ""  # the formal text's line the message points at
    kind: str = ""  # Lean's message kind (`hasSorry`, `lean.unknownIdentifier...`), when it gives one

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
    axioms: dict[str, list[str]] = field(default_factory=dict)  # declaration -> axioms, from Lean's #print axioms

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def errors(self) -> list[LeanMessage]:
        return [m for m in self.messages if m.severity == "error"]


def _words(tok: Token) -> list[str]:
    """An identifier's dotted parts (`IO.Process.run` -> IO, Process, run), guillemets kept whole."""
    return [w for w in re.split(r"\.(?![^«]*»)", tok.text) if w]


def refusal(source: str, fragment: bool = False) -> str | None:
    """Why a formal text is refused before compiling, or None when it may be compiled. A `fragment` (a tactic
    replayed by lean-dojo) is not a file, so its lines need not start with commands."""
    try:
        tokens = tokenize(source)
    except LexError as exc:
        return f"the text does not lex: {exc}"
    return _token_refusal(tokens, fragment)


def _token_refusal(tokens: list[Token], fragment: bool = False) -> str | None:
    prev_line = 0
    for k, tok in enumerate(tokens):
        where = f"line {tok.line}"
        first_on_line = tok.line != prev_line
        prev_line = tok.line
        if tok.kind == "hash" and tok.text not in HASH_COMMANDS:
            return f"{tok.text} runs code or is not a command a proof needs ({where})"
        if tok.kind == "attr" or (tok.kind == "ident" and tok.text == "attribute" and k + 1 < len(tokens)
                                  and tokens[k + 1].text == "["):
            bad = _bad_attribute(tokens, k + (tok.kind == "ident") + 1)
            if bad:
                return f"attribute {bad!r} ({where}): only attributes that tag lemmas for tactics are allowed"
        if tok.kind != "ident":
            continue
        for word in _words(tok):
            for pat, why in DENIED:
                if pat.match(word):
                    return f"{why} ({tok.text!r}, {where})"
        if first_on_line and tok.col == 0 and tok.text not in COMMAND_WORDS and not fragment:
            return (f"{tok.text!r} at the start of {where} is not a command a proof needs "
                    "(indent lines that continue a declaration)")
        if tok.text == "set_option":
            opt = tokens[k + 1].text if k + 1 < len(tokens) else ""
            if not SAFE_OPTIONS.match(opt):
                return f"set_option {opt} ({where}): only options that tune elaboration or output are allowed"
        if tok.text == "import":
            mods = [t for t in tokens[k + 1:k + 50] if t.line == tok.line] or [Token("sym", "", tok.line, 0, 0)]
            for mod in mods:  # every module named on the line (`import A B`), and something must be named
                if mod.kind != "ident" or not ALLOWED_IMPORTS.match(mod.text):
                    return (f"import of {mod.text!r} (only Mathlib, Init, Std, Batteries, Aesop, Qq, Lean may be "
                            "imported)")
    if tokens and tokens[-1].text == "in":
        return "the text ends with `... in` (nothing follows it)"
    return None


def _bad_attribute(tokens: list[Token], i: int) -> str | None:
    """The first attribute not allowed in the list that starts at tokens[i] (after `@[` or `attribute [`)."""
    depth, expect_name = 0, True
    while i < len(tokens):
        t = tokens[i]
        if t.text in ("[", "(", "{"):
            depth += 1
        elif t.text in (")", "}"):
            depth -= 1
        elif t.text == "]":
            if depth == 0:
                return None
            depth -= 1
        elif t.text == "," and depth == 0:
            expect_name = True
        elif expect_name and t.text not in ("-", "local", "scoped"):
            if t.kind != "ident" or t.text not in ATTRIBUTES:
                return t.text
            expect_name = False
        i += 1
    return "(unclosed attribute list)"


def declared_names(tokens: list[Token]) -> list[str]:
    """Full names of the named theorems/definitions/instances, so Lean can be asked what each one rests on."""
    scopes: list[str | None] = []  # a namespace's name, or None for a section / mutual block
    names: list[str] = []
    for k, tok in enumerate(tokens):
        if tok.kind != "ident":
            continue
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        if tok.text == "namespace" and nxt is not None and nxt.kind == "ident":
            scopes.append(nxt.text)
        elif tok.text in ("section", "mutual"):
            scopes.append(None)
        elif tok.text == "end" and scopes:
            scopes.pop()
        elif tok.text in DECLARATION_WORDS and nxt is not None:
            j = k + 1
            if tok.text == "instance" and nxt.text == "(":  # instance (priority := ...) name
                while j < len(tokens) and tokens[j].text != ")":
                    j += 1
                j += 1
            if j < len(tokens) and tokens[j].kind == "ident":
                name = tokens[j].text
                if name.startswith("_root_."):
                    names.append(name[len("_root_."):])
                else:
                    names.append(".".join([s for s in scopes if s] + [name]))
    return list(dict.fromkeys(names))


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
        line = line if isinstance(line, int) else None
        col = col if isinstance(col, int) else None
        text = str(d.get("data", d.get("text", "")))
        src = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
        kind = d.get("kind")
        out.append(LeanMessage(str(d.get("severity", "information")), line, col, text, src,
                               kind if isinstance(kind, str) else ""))
    return out


# --- running Lean: untrusted input, so a scrubbed environment, rlimits, a process group killed on timeout

_ENV_NAMES = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "TZ", "USER"}
_ENV_PREFIXES = ("LEAN", "LAKE", "ELAN")


def sandbox_env(tmp: str) -> dict[str, str]:
    """The environment Lean runs with: what a toolchain needs to be found, nothing else (no API keys)."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}
    env.update(TMPDIR=tmp, TMP=tmp, TEMP=tmp)
    return env


def _limits(cpu_seconds: int, memory_mb: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        if memory_mb > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _run(cmd: list[str], cwd: str, tmp: str, timeout: float, memory_mb: int) -> tuple[int, str, str] | str:
    """(exit status, stdout, stderr), or a sentence saying why Lean did not finish."""
    # Lean elaborates on several threads, so CPU time may exceed the wall-clock timeout; this is only a backstop.
    cpu = int(timeout * 8) + 30
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=sandbox_env(tmp), start_new_session=True,
                                preexec_fn=_limits(cpu, memory_mb))
    except OSError as exc:
        return f"could not run Lean: {exc}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # Lean and anything it started
        proc.communicate()
        return f"Lean did not finish within {timeout:g}s"
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT) and not out.strip():
        return f"Lean was stopped by signal {-proc.returncode} (CPU or memory limit): {err.strip()[:200]}"
    return proc.returncode, out, err


_MISSING_PACKAGE = re.compile(r"unknown module prefix '([^']+)'|unknown package '([^']+)'")
_MISSING_MODULE = re.compile(r"object file '?[^']*'? of module (\S+) does not exist")
_AXIOMS = re.compile(r"^'(?P<name>.*)' (?:depends on axioms: \[(?P<list>.*)\]|does not depend on any axioms)\s*$",
                     re.DOTALL)


def _setup_problem(messages: list[LeanMessage], everything: str) -> tuple[str, str] | None:
    """(status, reason) when the output shows a set-up fault, or a missing import that is the proof's fault."""
    if "incompatible header" in everything:
        return "unavailable", ("Lean's library was built by another Lean version (incompatible .olean header): "
                               "rebuild it, or run with the toolchain that built it")
    m = _MISSING_PACKAGE.search(everything)
    if m:
        pkg = m.group(1) or m.group(2)
        return "unavailable", (f"the library {pkg!r} is not installed for this Lean (give a --lean-project "
                               "whose lakefile has it)")
    m = _MISSING_MODULE.search(everything)
    if m:
        mod = m.group(1)
        if "." not in mod:  # the package's root file itself: an unbuilt or broken install
            return "unavailable", f"Lean's library {mod!r} is not built (run `lake build` in the project)"
        return "rejected", f"the proof imports {mod}, which does not exist in this library"
    return None


def _axiom_verdict(names: list[str], query_messages: dict[int, list[LeanMessage]], first_query_line: int,
                   result: LeanResult) -> str | None:
    """Read Lean's `#print axioms` answers; a reason to reject, '' when some answer is missing, None when all ok."""
    problems = []
    for i, name in enumerate(names):
        answer = [m for m in query_messages.get(first_query_line + i, []) if m.severity == "information"]
        parsed = _AXIOMS.match(answer[0].text.strip()) if len(answer) == 1 else None
        if parsed is None:
            return ""
        axioms = [a.strip() for a in (parsed.group("list") or "").split(",") if a.strip()]
        result.axioms[name] = axioms
        for ax in axioms:
            if ax in STANDARD_AXIOMS:
                continue
            if ax == "sorryAx":
                problems.append(f"{name} uses sorry")
            elif "ofReduce" in ax or "native_decide" in ax or "_native" in ax:
                problems.append(f"{name} trusts compiled code (native_decide / {ax}), not the kernel")
            else:
                problems.append(f"{name} depends on the axiom {ax}")
    return "; ".join(problems) or None


def check_lean(source: str, project: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT,
               lean: str | None = None, memory_mb: int = DEFAULT_MEMORY_MB) -> LeanResult:
    """Compile one Lean 4 file's text and say whether it is a complete proof on the standard axioms only."""
    try:
        tokens = tokenize(source)
    except LexError as exc:
        return LeanResult("refused", f"refused before compiling: the text does not lex: {exc}")
    why = _token_refusal(tokens)
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
    # Ask Lean itself what each declaration rests on: one `#print axioms` per line after the proof's own lines.
    names = declared_names(tokens)
    body = source if source.endswith("\n") else source + "\n"
    first_query_line = body.count("\n") + 2
    compiled = body + "\n" + "".join(f"#print axioms {n}\n" for n in names)
    with tempfile.TemporaryDirectory(prefix="proofloop-lean-") as tmp:
        path = Path(tmp) / "Proof.lean"
        path.write_text(compiled, encoding="utf-8")
        full = cmd + [str(path)]
        t0 = time.monotonic()
        ran = _run(full, str(proj) if proj else tmp, tmp, timeout, memory_mb)
        seconds = time.monotonic() - t0
    if isinstance(ran, str):
        return LeanResult("unavailable", ran, command=full, seconds=seconds)
    returncode, stdout, stderr = ran
    every = parse_messages(stdout, source)
    own_lines = first_query_line - 1
    messages = [m for m in every if m.line is None or m.line < own_lines]
    queries: dict[int, list[LeanMessage]] = {}
    for m in every:
        if m.line is not None and m.line >= own_lines:
            queries.setdefault(m.line, []).append(m)
    result = LeanResult("rejected", "", messages, full, seconds)
    problem = _setup_problem(messages, stdout + "\n" + stderr)
    if problem:
        result.status, result.reason = problem
        return result
    errors = result.errors
    sorry = [m for m in messages if m.kind == "hasSorry" or re.search(r"declaration uses ['`]sorry['`]", m.text)]
    if errors:
        first = errors[0]
        result.reason = (f"{len(errors)} error(s); first at line {first.line}, column {(first.column or 0) + 1}: "
                         f"{first.text.splitlines()[0][:200] if first.text else ''}")
        return result
    if sorry or any(t.kind == "ident" and t.text in SORRY_WORDS for t in tokens):
        result.reason = "the proof uses sorry"
        return result
    if returncode != 0 and not any(m.severity == "error" for ms in queries.values() for m in ms):
        if not messages:
            result.status = "unavailable"
            result.reason = f"Lean exited with status {returncode} without diagnostics: {stderr.strip()[:200]}"
        else:
            result.reason = f"Lean exited with status {returncode}"
        return result
    verdict = _axiom_verdict(names, queries, first_query_line, result)
    if verdict == "":
        result.status = "unavailable"
        result.reason = "Lean did not say which axioms the proof's declarations use (#print axioms gave no answer)"
        return result
    if verdict:
        result.reason = verdict
        return result
    native = [t for t in tokens if t.kind == "ident" and _words(t)[-1] in NATIVE_WORDS]
    native += [t for k, t in enumerate(tokens) if t.text == "native" and k and tokens[k - 1].text == "+"]
    if native:  # only reached for code Lean was not asked about (an `example`, an unnamed instance)
        result.reason = f"the proof trusts compiled code ({native[0].text}, line {native[0].line}), not the kernel"
        return result
    result.status = "checked"
    used = sorted({a for axs in result.axioms.values() for a in axs})
    result.reason = ("Lean accepted the proof: exit 0, no errors, no sorry; axioms: "
                     + (", ".join(used) if used else "none") + f" ({len(names)} declaration(s) asked)")
    return result


# ------------------------------------------------------------------ formal text from a problem and a proof

_LEAN_BLOCK = re.compile(r"```(?:lean4?|Lean4?)\s*\n(.*?)```", re.DOTALL)


def _strip_comments(source: str) -> str:
    """The text with its comments removed (strings kept), one line per source line that has code."""
    try:
        tokens = tokenize(source)
    except LexError:  # only used to compare statements; an unlexable text is refused when it is compiled
        return re.sub(r"--[^\n]*", "", re.sub(r"/-.*?-/", " ", source, flags=re.DOTALL))
    out: list[str] = []
    for prev, tok in zip([None, *tokens], tokens):
        if prev is not None:
            out.append("\n" if tok.line != prev.line else " " if tok.pos > prev.pos + len(prev.text) else "")
        out.append(tok.text)
    return "".join(out)


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
            imports = "".join(line + "\n" for line in lean_statement.splitlines()
                              if line.strip().startswith(("import", "open")))
            source = imports + "\n" + source
    return source, ""


def _human_column(m: LeanMessage) -> int | None:
    return m.column + 1 if m.column is not None else None  # Lean counts columns from 0, editors from 1


def lean_issues(result: LeanResult) -> list[Issue]:
    if result.status != "rejected":
        return []
    if not result.errors:
        return [Issue(severity="critical", source="lean", description=f"Lean check failed: {result.reason}",
                      evidence=result.reason)]
    return [Issue(severity="critical", source="lean", quote=m.source_line.strip() or None,
                  description=f"Lean error at line {m.line}, column {_human_column(m)}: "
                              f"{(m.text.splitlines() or [''])[0][:300]}",
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
    body = [line for line in body if line.strip()]
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
        why = refusal(tac, fragment=True)
        if why:
            return LeanResult("refused", f"refused before running: {why}")
    try:
        from lean_dojo import Dojo, LeanGitRepo, ProofFinished, Theorem
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
