"""Judging claims exactly with sympy: confirmed, refuted (with the correct value or a counterexample), or unchecked.

Refutations must be right, so they are made only where the claim's meaning is clear:
- a claim without variables (arithmetic, factorials, binomials, congruences between numbers) is computed exactly;
- a claim with variables is an identity only when both sides use the same variables, neither side is a lone
  variable (that would be a definition or a solution), and the sentence does not suppose, negate or reach a
  contradiction. Identities are tried by symbolic simplification first, then by evaluation at random integer
  points; the evidence says which decided.
Equations that hold only under the proof's hypotheses (2a^2 + 3b^2 = 4c^2) are left unchecked, never refuted.
"""
from __future__ import annotations

import importlib
import os
import pickle
import random
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sympy as sp
from sympy.core.function import AppliedUndef

from verifier.claims import Claim, extract_claims, stated_moduli
from verifier.latex import ParseFailure, TooLarge, parse_math
from verifier.proof import Proof
from verifier.verification import Issue

CLAIM_SECONDS = 1.0
RANDOM_POINTS = 6
PROOF_SECONDS = 5.0  # exact checks of one proof, all claims together; the rest is `unchecked (budget)`
PROOF_CLAIMS = 2000


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str  # confirmed | refuted | unchecked
    method: str = ""  # exact arithmetic | simplification | random-point evaluation | numeric evaluation | ...
    evidence: str = ""

    def to_dict(self) -> dict:
        return {"claim": self.claim.to_dict(), "verdict": self.verdict, "method": self.method,
                "evidence": self.evidence}


@dataclass
class StepResult:
    step: int
    claims: list[ClaimResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in self.claims}
        if "refuted" in verdicts:
            return "refuted"
        if "confirmed" in verdicts:
            return "confirmed"
        return "unchecked"

    def to_dict(self) -> dict:
        return {"step": self.step, "verdict": self.verdict, "claims": [c.to_dict() for c in self.claims]}


class CheckTimeout(BaseException):  # not Exception: sympy must not swallow it
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt sympy after `seconds` (main thread on Unix only; elsewhere the size limits must do)."""
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if usable and signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        usable = False  # someone else's timer is running: leave it alone
    if not usable:
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise CheckTimeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _show(e: sp.Expr) -> str:
    s = str(e)
    return s if len(s) <= 80 else s[:77] + "..."


def _has_functions(e: sp.Expr) -> bool:
    return bool(e.atoms(AppliedUndef))


def _decimal_places(text: str) -> int | None:
    found = re.findall(r"\d\.(\d+)", text)
    return max(len(f) for f in found) if found else None


def _numeric_value(e: sp.Expr, digits: int = 40) -> sp.Float | None:
    v = sp.N(e, digits)
    if v.is_real is False or v.has(sp.zoo, sp.oo, sp.nan, -sp.oo):
        return None
    return v if v.is_Float or v.is_Integer or v.is_Rational else None


def _judge_numeric(claim: Claim, lhs: sp.Expr, rhs: sp.Expr) -> ClaimResult:
    rel = claim.relation
    if rel == "==mod":
        m = parse_math(claim.modulus or "")
        if not (lhs.is_Integer and rhs.is_Integer and m.is_Integer and m > 0):
            return ClaimResult(claim, "unchecked", "exact arithmetic", "congruence between non-integers")
        ok = (lhs - rhs) % m == 0
        ev = f"{lhs} mod {m} = {lhs % m}, {rhs} mod {m} = {rhs % m}"
        return ClaimResult(claim, "confirmed" if ok else "refuted", "exact arithmetic", ev)
    exact = lhs.is_Rational and rhs.is_Rational
    if exact:
        d = lhs - rhs
        method = "exact arithmetic"
    else:
        d = sp.simplify(lhs - rhs) if sp.count_ops(lhs - rhs) < 80 else lhs - rhs
        if d.is_Rational:
            exact, method = True, "simplification"
        else:
            method = "numeric evaluation (40 digits)"
    if exact:
        sign = 0 if d == 0 else (1 if d > 0 else -1)
    else:
        lv, rv = _numeric_value(lhs), _numeric_value(rhs)
        if lv is None or rv is None:
            return ClaimResult(claim, "unchecked", method, "a side is not a real number")
        diff = lv - rv
        scale = max(abs(lv), abs(rv), 1)
        if abs(diff) <= scale * sp.Float("1e-30"):
            sign = 0
            if rel in ("<", ">", "!="):
                return ClaimResult(claim, "unchecked", method, "the sides agree to 30 digits")
        else:
            sign = 1 if diff > 0 else -1
    ok = {"=": sign == 0, "!=": sign != 0, "<": sign < 0, ">": sign > 0, "<=": sign <= 0, ">=": sign >= 0}[rel]
    places = _decimal_places(claim.lhs + " " + claim.rhs)
    if not ok and places is not None and rel == "=":
        # "= 1.414" usually means a rounded value
        if abs(sp.N(lhs - rhs, 30)) < sp.Float(10) ** (-places + 1):
            return ClaimResult(claim, "unchecked", method, "a rounded decimal value")
    ev = f"left side = {_show(lhs)}, right side = {_show(rhs)}"
    if not exact and not lhs.is_Rational:
        ev += f" (≈ {sp.N(lhs, 12)} vs {sp.N(rhs, 12)})"
    return ClaimResult(claim, "confirmed" if ok else "refuted", method, ev)


IDENTITY_CUES = re.compile(r"\b(?:expand\w*|identity|identically|for all|for every|for any)\b", re.IGNORECASE)
# words by which an equation with variables is a condition, a definition or something to solve, not an identity
# the proof asserts: "we need P(x) = Q(x) for all x", "let f(x) = ...", "expanding the equation ..."
CONDITION_CUES = re.compile(
    r"\b(?:let|define[sd]?|denote[sd]?|set|need|needs|want|wants|require[sd]?|must|should|satisf\w*|such\s+that|if|"
    r"whenever|where|equation\w*|condition\w*|constraint\w*|solv\w*|solution\w*|roots?|zeros?|unknowns?|"
    r"both\s+sides|show|prove|verify|check|whether|given|hypothes\w*|substitut\w*|plug\w*|becomes?|yields?)\b",
    re.IGNORECASE)
# names that may be constants rather than variables: i (the imaginary unit), e, \pi
CONSTANTS = {"i": sp.I, "e": sp.E, "\\pi": sp.pi}


def _identity_like(claim: Claim, lhs: sp.Expr, rhs: sp.Expr) -> bool:
    """Whether a false equation with variables reads as a claimed identity (rather than a hypothesis).

    On real proofs most equations with variables hold only under the proof's hypotheses, so a claim counts as an
    identity only when its sentence says so (expanding, an identity, for all ...) and it is polynomial."""
    if claim.relation != "=" or claim.hypothetical or not IDENTITY_CUES.search(claim.context):
        return False
    if CONDITION_CUES.search(claim.context):
        return False
    if not (lhs.is_polynomial() and rhs.is_polynomial()):
        return False
    ls, rs = lhs.free_symbols, rhs.free_symbols
    if not ls or ls != rs:
        return False
    if lhs.is_Symbol or rhs.is_Symbol or (-lhs).is_Symbol or (-rhs).is_Symbol:
        return False
    return True


def _true_with_constants(lhs: sp.Expr, rhs: sp.Expr) -> bool:
    """Whether the claim holds once i, e and \\pi are read as constants ((1+i)^2 = 2i, e^{i\\pi} = -1)."""
    subs = {sym: CONSTANTS[sym.name] for sym in lhs.free_symbols | rhs.free_symbols if sym.name in CONSTANTS}
    if not subs:
        return False
    d = (lhs - rhs).subs(subs)
    try:
        if sp.count_ops(d) < 150 and sp.expand(d) == 0:
            return True
        if d.free_symbols:
            return False
        v = sp.N(d, 30)
        return bool(v.is_number and abs(v) < sp.Float("1e-25"))
    except (TypeError, ValueError, ZeroDivisionError, AttributeError):
        return True  # could not tell: do not refute


def _random_points(symbols: list[sp.Symbol], exponent_symbols: set, rng: random.Random) -> list[dict]:
    """Integer points; symbols that occur in exponents stay small so that 2^{2^k} remains computable."""
    pts = []
    for _ in range(RANDOM_POINTS):
        pts.append({s: sp.Integer(rng.randint(1, 5) if s in exponent_symbols else rng.randint(2, 23))
                    for s in symbols})
    return pts


def _expansion_cost(e: sp.Expr) -> float:
    """A rough bound on the number of terms expanding `e` would produce (powers of sums multiply up)."""
    cost = 1.0
    for p in e.atoms(sp.Pow):
        if p.base.is_Add and p.exp.is_Integer and p.exp > 1:
            cost *= float(sp.binomial(int(p.exp) + len(p.base.args) - 1, len(p.base.args) - 1))
            if cost > 1e12:
                break
    return cost


def _judge_symbolic(claim: Claim, lhs: sp.Expr, rhs: sp.Expr) -> ClaimResult:
    if _has_functions(lhs) or _has_functions(rhs):
        return ClaimResult(claim, "unchecked", "", "involves an unknown function")
    if claim.relation not in ("=", "==mod"):
        return ClaimResult(claim, "unchecked", "", "an inequality with variables")
    has_sums = lhs.has(sp.Sum, sp.Product) or rhs.has(sp.Sum, sp.Product)
    symbols = sorted(lhs.free_symbols | rhs.free_symbols, key=str)
    if lhs.free_symbols != rhs.free_symbols and claim.relation == "=":
        # x = 3y, 2a^2 = 4c^2: a relation between quantities, not an identity; nothing exact to say
        return ClaimResult(claim, "unchecked", "", "the sides use different variables")
    if claim.relation == "=" and not has_sums:
        d = lhs - rhs
        ops = sp.count_ops(d)
        simplified = None
        cost = _expansion_cost(d)
        if ops < 150 and cost < 2e5 and d.is_polynomial(*symbols):
            simplified = sp.expand(d)
        elif ops < 25 and cost < 1e3:
            simplified = sp.simplify(d)
        if simplified == 0:
            return ClaimResult(claim, "confirmed", "simplification", "the difference of the sides simplifies to 0")
    rng = random.Random(zlib.crc32(claim.text.encode("utf-8")))  # the same points in every run
    mod = parse_math(claim.modulus) if claim.relation == "==mod" and claim.modulus is not None else None
    if mod is not None and not (mod.is_Integer and mod > 0):
        return ClaimResult(claim, "unchecked", "", "modulus is not a fixed positive integer")
    disagreements = []
    agreed = 0
    in_exponents = set()
    for side in (lhs, rhs):
        for p in side.atoms(sp.Pow):
            in_exponents |= p.exp.free_symbols
        for big in side.atoms(sp.Sum, sp.Product):
            for _, lo, hi in big.limits:
                in_exponents |= lo.free_symbols | hi.free_symbols
    for point in _random_points(symbols, in_exponents, rng):
        try:
            lv, rv = lhs.subs(point), rhs.subs(point)
            if has_sums:
                lv, rv = lv.doit(), rv.doit()
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if mod is not None:
            if not (lv.is_Integer and rv.is_Integer):
                continue
            same = (lv - rv) % mod == 0
        else:
            if not (lv.is_number and rv.is_number) or lv.has(sp.zoo, sp.nan):
                continue
            dv = sp.N(lv - rv, 30) if not (lv.is_Rational and rv.is_Rational) else lv - rv
            same = abs(dv) < sp.Float("1e-25") * max(1, abs(sp.N(lv, 30)))
        if same:
            agreed += 1
        else:
            disagreements.append((point, lv, rv))
    if not disagreements and agreed >= 3:
        return ClaimResult(claim, "confirmed", "random-point evaluation",
                           f"both sides agree at {agreed} random integer points")
    if disagreements and mod is None and _identity_like(claim, lhs, rhs):
        if _true_with_constants(lhs, rhs):
            return ClaimResult(claim, "unchecked", "simplification",
                               "true when i, e or \\pi are read as constants (the imaginary unit, Euler's number, pi)")
        point, lv, rv = disagreements[0]
        at = ", ".join(f"{k}={v}" for k, v in sorted(point.items(), key=lambda kv: str(kv[0])))
        how = "simplification leaves a non-zero difference; " if claim.relation == "=" else ""
        return ClaimResult(claim, "refuted", "random-point evaluation",
                           f"{how}counterexample at {at}: left side = {_show(lv)}, right side = {_show(rv)}")
    return ClaimResult(claim, "unchecked", "random-point evaluation",
                       "not an identity; it may hold under the proof's hypotheses")


def _judge_here(claim: Claim, seconds: float) -> ClaimResult:
    """The verdict on one claim in this process (its time limit only holds on the main thread)."""
    try:
        with time_limit(seconds):
            lhs, rhs = parse_math(claim.lhs), parse_math(claim.rhs)
            if claim.modulus is not None:
                parse_math(claim.modulus)
            if lhs.free_symbols or rhs.free_symbols:
                result = _judge_symbolic(claim, lhs, rhs)
            else:
                result = _judge_numeric(claim, lhs, rhs)
            if result.verdict == "refuted" and claim.relation == "=" and claim.moduli:
                result = _modulo_stated(result, lhs, rhs)
    except TooLarge as exc:
        return ClaimResult(claim, "unchecked", "", f"too large to check: {exc}")
    except ParseFailure as exc:
        return ClaimResult(claim, "unchecked", "", f"not parsed: {exc}")
    except CheckTimeout:
        return ClaimResult(claim, "unchecked", "", f"time limit of {seconds:g}s reached")
    except (TypeError, ValueError, ZeroDivisionError, AttributeError, RecursionError, OverflowError) as exc:
        return ClaimResult(claim, "unchecked", "", f"could not evaluate: {type(exc).__name__}")
    if result.verdict == "refuted" and claim.modular_context and claim.relation != "==mod":
        return ClaimResult(claim, "unchecked", result.method,
                           "false over the integers, but the sentence works modulo something: " + result.evidence)
    if result.verdict == "refuted" and claim.hypothetical:
        return ClaimResult(claim, "unchecked", result.method, "false as written, but stated in a hypothetical or "
                           "contradiction context: " + result.evidence)
    return result


def _modulo_stated(result: ClaimResult, lhs: sp.Expr, rhs: sp.Expr) -> ClaimResult:
    """After "work modulo 7" (earlier in the proof) or "mod p" (earlier in the step), `3 \\cdot 5 = 1` may be a
    computation of residues. It is left unchecked only when it reads as one: the right side is a reduced residue
    (|rhs| < 7 and the claim true modulo 7; for a named modulus, rhs is -1, 0 or 1), so a wrong value such as
    `529 - 456 = 80` is still refuted."""
    if not (lhs.is_Integer and rhs.is_Integer):
        return result
    d, r = int(lhs - rhs), int(rhs)
    for mod in result.claim.moduli:
        if mod.isdigit():
            m = int(mod)
            if m > 1 and d % m == 0 and abs(r) < m:
                return ClaimResult(result.claim, "unchecked", result.method,
                                   f"false over the integers but true modulo {m}, stated earlier: " + result.evidence)
        elif abs(r) <= 1 and abs(d) > 1:
            return ClaimResult(result.claim, "unchecked", result.method,
                               f"false over the integers, but the step works modulo {mod}: " + result.evidence)
    return result


# ---- time limits that hold on any thread: off the main thread a claim is judged in a worker process, killed when
# it overruns (SIGALRM only reaches the main thread, and a long big-integer operation does not even yield to it)

_worker_lock = threading.Lock()
_worker: subprocess.Popen[bytes] | None = None
WORKER_START_SECONDS = 60.0  # importing sympy in a fresh process; only a hung start waits this long
WORKER_GRACE = 1.0  # past the claim's own limit (which the worker's alarm enforces) before it is killed


def _send(f: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(struct.pack(">I", len(data)) + data)
    f.flush()


def _read_exact(f: IO[bytes], n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            raise EOFError("worker closed its pipe")
        out += chunk
    return out


def _receive(f: IO[bytes]) -> Any:
    (n,) = struct.unpack(">I", _read_exact(f, 4))
    return pickle.loads(_read_exact(f, n))  # our own worker's answer, never model text


def _function(target: str) -> Callable[..., Any]:
    """`verifier.module:function` -> the function; only this package's functions run in the worker."""
    module, _, name = target.partition(":")
    if not module.startswith("verifier."):
        raise ValueError(f"not a verifier function: {target}")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _worker_main() -> None:
    """The worker's loop: (function, args) in, ("ok", result) or ("raise", exception) out, on stdin / stdout."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer pipe
    _send(out, "ready")
    while True:
        try:
            target, args = _receive(inp)
        except EOFError:
            return
        try:
            answer = ("ok", _function(target)(*args))
        except Exception as exc:  # noqa: BLE001 - handed back to the caller, who raises it
            answer = ("raise", exc)
        except CheckTimeout:
            answer = ("raise", CheckTimeout())
        _send(out, answer)


def _kill_worker() -> None:
    global _worker
    if _worker is not None:
        try:
            _worker.kill()
            _worker.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        _worker = None


def _wait_readable(f: IO[bytes], seconds: float) -> bool:
    return bool(select.select([f], [], [], max(seconds, 0))[0])


def _start_worker() -> subprocess.Popen[bytes]:
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    proc = subprocess.Popen([sys.executable, "-c", "from verifier.symbolic import _worker_main; _worker_main()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=root)
    assert proc.stdout is not None  # stdout=PIPE
    if not _wait_readable(proc.stdout, WORKER_START_SECONDS) or _receive(proc.stdout) != "ready":
        proc.kill()
        raise CheckTimeout()
    return proc


def in_worker(target: str, args: tuple, seconds: float) -> Any:
    """`target(*args)` ("verifier.module:function") in the worker process, which is killed after `seconds` (plus a
    grace): then CheckTimeout. What the function raises is raised here."""
    global _worker
    with _worker_lock:
        try:
            if _worker is None or _worker.poll() is not None:
                _worker = _start_worker()
            stdin, stdout = _worker.stdin, _worker.stdout
            assert stdin is not None and stdout is not None  # both PIPE
            _send(stdin, (target, args))
            if not _wait_readable(stdout, seconds + WORKER_GRACE):
                _kill_worker()
                raise CheckTimeout()
            kind, value = _receive(stdout)
        except (OSError, EOFError, pickle.PickleError, struct.error, ValueError):
            _kill_worker()
            raise CheckTimeout() from None
    if kind == "raise":
        raise value
    return value


def call_limited(target: str, args: tuple, seconds: float) -> Any:
    """`target(*args)` within `seconds` on any thread: the alarm on the main thread, else the worker process.
    CheckTimeout when the time is up."""
    if threading.current_thread() is threading.main_thread():
        with time_limit(seconds):
            return _function(target)(*args)
    return in_worker(target, args, seconds)


def judge(claim: Claim, seconds: float = CLAIM_SECONDS) -> ClaimResult:
    """The verdict on one claim, within a time limit (on any thread)."""
    if claim.skipped:
        return ClaimResult(claim, "unchecked", "budget",
                           f"unchecked (budget): {claim.skipped} formula(s) left unread, the proof's budget of "
                           f"{PROOF_SECONDS:g}s / {PROOF_CLAIMS} claims was spent")
    if seconds <= 0:
        return ClaimResult(claim, "unchecked", "budget",
                           f"unchecked (budget): the proof's time budget of {PROOF_SECONDS:g}s was spent")
    if threading.current_thread() is threading.main_thread():
        return _judge_here(claim, seconds)
    try:
        result: ClaimResult = in_worker("verifier.symbolic:_judge_here", (claim, seconds), seconds)
        return result
    except CheckTimeout:
        return ClaimResult(claim, "unchecked", "", f"time limit of {seconds:g}s reached")


class Budget:
    """What is left of one proof's budget for the exact checks: seconds and claims."""

    def __init__(self, seconds: float = PROOF_SECONDS, claims: int = PROOF_CLAIMS):
        self.deadline = time.monotonic() + seconds
        self.claims = claims

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


def check_text(text: str, following: str = "", budget: Budget | None = None,
               moduli: tuple[str, ...] = ()) -> list[ClaimResult]:
    budget = budget or Budget()
    claims = extract_claims(text, following, limit=max(budget.claims, 0), deadline=budget.deadline, moduli=moduli)
    results = []
    for c in claims:
        if not c.skipped:
            budget.claims -= 1
        results.append(judge(c, min(CLAIM_SECONDS, budget.seconds_left())))
    return results


def check_proof(proof: Proof, seconds: float = PROOF_SECONDS, max_claims: int = PROOF_CLAIMS) -> list[StepResult]:
    """Per-step results for every step of a proof, within one budget for the whole proof; numeric moduli stated
    in a step ("work modulo 7") stay in force for the steps after it."""
    budget = Budget(seconds, max_claims)
    out = []
    moduli: list[str] = []
    steps = proof.steps
    for k, step in enumerate(steps):
        following = proof.text[step.end:step.end + 400] if k + 1 < len(steps) else ""
        out.append(StepResult(step.index, check_text(step.text, following, budget, tuple(moduli))))
        for _, mod in stated_moduli(step.text[:20000]):
            if mod.isdigit() and mod not in moduli and len(moduli) < 20:
                moduli.append(mod)
    return out


def refutation_issues(proof: Proof, results: list[StepResult]) -> list[Issue]:
    """Each refuted claim becomes a critical Issue pinned to its step, with the check as evidence."""
    issues = []
    by_index = {s.index: s for s in proof.steps}
    for sr in results:
        for cr in sr.claims:
            if cr.verdict != "refuted":
                continue
            step = by_index.get(sr.step)
            quote = step.text[cr.claim.start:cr.claim.end] if step else cr.claim.text
            issues.append(Issue(severity="critical", source="symbolic", step=sr.step, quote=quote.strip(),
                                description=f"The claim {cr.claim.text} is false ({cr.method}).",
                                evidence=cr.evidence, confirmed=True))
    return issues

