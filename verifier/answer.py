"""The final answer of a proof, and its check against a problem's known answer.

The proof's answer is the last `\\boxed{...}`, else an `Answer:` line, else the last "the answer is ...". Both
answers are read with verifier.latex (never eval): an integer must match exactly, an expression must be
equivalent (simplification, then 40-digit evaluation), and a list such as `k = 0, 1, 3` or `\\{0,1,3\\}` is
compared as a set. A tuple such as `(a, b) = (3, 5)` is compared entry by entry; the same entries in another order
are left unchecked (the problem may not care about order), as are free-text answers ("all even n"): never a
mismatch unless the values differ.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import sympy as sp

from verifier.latex import ParseFailure, parse_math
from verifier.proof import Proof
from verifier.symbolic import CheckTimeout, time_limit
from verifier.verification import Issue


@dataclass
class AnswerCheck:
    status: str  # match | mismatch | unchecked | no_answer | no_reference
    expected: str | None = None
    found: str | None = None
    step: int | None = None  # the step the proof's answer is in
    method: str = ""
    evidence: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _boxed(text: str) -> list[tuple[int, str]]:
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append((m.start(), text[m.end():i - 1]))
    return out


def final_answer(text: str) -> tuple[int, str] | None:
    """(offset, answer text) of the proof's final answer, or None."""
    boxed = _boxed(text)
    if boxed:
        return boxed[-1]
    m = None
    for m in re.finditer(r"\*{0,2}(?:final\s+)?answer\s*[:.]\*{0,2}\s*(.+)", text, re.IGNORECASE):
        pass
    if m:
        return m.start(1), m.group(1).strip()
    for m in re.finditer(r"the answer is\s+(.+?)(?:\.\s|\.$|\n|$)", text, re.IGNORECASE):
        pass
    if m:
        return m.start(1), m.group(1).strip()
    return None


def _strip(ans: str) -> str:
    s = ans.strip()
    s = re.sub(r"^(?:the\s+)?(?:final\s+)?answer\s+is\s*:?", "", s, flags=re.IGNORECASE).strip()
    s = re.sub(r"^\*{0,2}answer\s*:\*{0,2}", "", s, flags=re.IGNORECASE).strip()
    if "$" in s and re.match(r"[A-Za-z]{2,}", s):
        # prose first: "We will show that $r=0$ ..." -> the formulas of the first sentence
        first = re.split(r"(?<=[.!?])\s", s, maxsplit=1)[0]
        s = ", ".join(re.findall(r"\$([^$]+)\$", first))
    s = re.sub(r"\\[()\[\]]|\$", " ", s)
    s = re.sub(r"\\(?:boxed|fbox)\s*\{(.*)\}", r"\1", s)
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s)  # degrees
    # "(3,1,1) \text{ and } (6,2,4)": a list, not prose that ends the answer
    s = re.sub(r"\\(?:text|mathrm|mbox)\s*\{\s*(?:and|or)\s*\}|(?<=[\d)}])\s+(?:and|or)\s+(?=[\d(\\-])", ",", s)
    s = re.sub(r"\\(?:text|textbf|textit|mathrm|mbox)\s*\{[^{}]*\}", "\0", s)
    s = re.sub(r"\\(?:,|;|!|:|quad|qquad|displaystyle|textstyle)|~|\\ ", " ", s)
    s = re.sub(r"\\(?:d|t)frac", r"\\frac", s)
    s = re.sub(r"^\s*[A-Za-z](?:_\{?\w+\}?)?\s*(?:\\in\b|∈)\s*", "", s)  # "k \in \{0, 1, 3\}" names the set
    # cut trailing prose: "k = 0, 1, 3 for all n" -> "k = 0, 1, 3"
    m = re.search(r"\0|(?<![\\A-Za-z])(?!mod\b)[A-Za-z]{2,}", s)
    if m:
        s = s[:m.start()]
    return s.strip().rstrip(".,;").strip()


def _split_list(s: str) -> list[str] | None:
    s = s.strip()
    if s.startswith("\\{") and s.endswith("\\}"):
        s = s[2:-2]
    depth, parts, start = 0, [], 0
    for i, c in enumerate(s):
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p.strip() for p in parts if p.strip()]


def _tuple_entries(piece: str) -> list[str] | None:
    """The entries of `(x, y, ...)` when the whole piece is one parenthesised tuple, else None."""
    s = piece.strip()
    if not (s.startswith("(") and s.endswith(")")):
        return None
    depth = 0
    for i, c in enumerate(s):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0 and i < len(s) - 1:
            return None  # "(a)(b)": the first parenthesis closes early
    entries = _split_list(s[1:-1])
    return entries if entries and len(entries) > 1 else None


def _value(piece: str) -> sp.Expr:
    # "n = 1" and "x=\frac12" name the value; keep the right-hand side
    if re.search(r"[A-Za-z]\s*\(", piece.partition("=")[0]) and "=" in piece:
        raise ParseFailure("a function as answer")
    if "=" in piece:
        left, _, right = piece.rpartition("=")
        piece = right if left.strip() else piece
    entries = _tuple_entries(piece)
    if entries is not None:
        return sp.Tuple(*(parse_math(e) for e in entries))
    return parse_math(piece)


def read_answer(ans: str) -> list[sp.Expr]:
    """The values an answer names (one or several); ParseFailure when it is not a formula."""
    s = _strip(ans)
    if not s:
        raise ParseFailure("empty answer")
    parts = _split_list(s)
    vals = []
    for i, p in enumerate(parts):
        if i > 0 and "=" not in p and "=" in parts[0] and not re.search(r"\d|\\", p) and len(p) <= 2:
            raise ParseFailure("a list of names, not values")
        vals.append(_value(p))
    return vals


def _equal_tuples(a: sp.Tuple, b: sp.Tuple, ordered: bool) -> tuple[bool | None, str]:
    if len(a) != len(b):
        return False, "tuples of different lengths"
    results = [_equal(x, y)[0] for x, y in zip(a, b)]
    if all(r is True for r in results):
        return True, "entry by entry"
    if None in results:
        return None, "could not decide"
    if ordered:
        return False, "entry by entry"
    # a differing entry: a mismatch only if no reordering makes the entries equal (order may not matter)
    unused = list(b)
    for x in a:
        hit = next((y for y in unused if _equal(x, y)[0] is True), None)
        if hit is None:
            return False, "entry by entry"
        unused.remove(hit)
    return None, "the same entries in another order"


def _equal(a: sp.Expr, b: sp.Expr, ordered: bool = False) -> tuple[bool | None, str]:
    """ordered: tuples must match in order (in a list of tuples, where (1, 2) and (2, 1) are different answers)."""
    if isinstance(a, sp.Tuple) or isinstance(b, sp.Tuple):
        if isinstance(a, sp.Tuple) and isinstance(b, sp.Tuple):
            return _equal_tuples(a, b, ordered)
        return None, "a tuple against a single value"
    if a.is_Integer and b.is_Integer:
        return a == b, "exact integer comparison"
    d = a - b
    if d == 0:
        return True, "identical expressions"
    if sp.count_ops(d) < 60:
        s = sp.simplify(d)
        if s == 0:
            return True, "simplification"
        if s.is_Rational:
            return False, "simplification"
    if not d.free_symbols:
        v = sp.N(d, 40)
        if v.is_Number:
            return abs(v) < sp.Float("1e-30"), "numeric evaluation (40 digits)"
    return None, "could not decide"


def check_answer(expected: str | None, proof: Proof | str) -> AnswerCheck:
    """Compare the proof's final answer with the known one."""
    text = proof.text if isinstance(proof, Proof) else proof
    if not expected or not expected.strip() or expected.strip().lower() in ("null", "none", "n/a"):
        return AnswerCheck("no_reference")
    found = final_answer(text)
    if found is None:
        return AnswerCheck("no_answer", expected=expected, evidence="no boxed or stated final answer found")
    offset, got = found
    step = proof.step_at(offset) if isinstance(proof, Proof) else None
    base = AnswerCheck("unchecked", expected=expected, found=got, step=step.index if step else None)
    try:
        with time_limit(3.0):
            want, have = read_answer(expected), read_answer(got)
            if len(want) == 1 and len(have) == 1:
                ok, method = _equal(want[0], have[0])
            else:
                # compare as sets: every value on each side has an equal value on the other
                ok, method = True, "set comparison"
                for xs, ys in ((want, have), (have, want)):
                    for x in xs:
                        hits = [_equal(x, y, ordered=True)[0] for y in ys]
                        if True in hits:
                            continue
                        ok = None if None in hits else False
                        break
                    if ok is not True:
                        break
    except ParseFailure as exc:
        base.evidence = f"answer not read as a formula: {exc}"
        return base
    except (CheckTimeout, TypeError, ValueError, ZeroDivisionError, AttributeError, RecursionError):
        base.evidence = "could not compare the answers"
        return base
    base.method = method
    if ok is None:
        base.evidence = "could not decide whether the answers are equal"
        return base
    base.status = "match" if ok else "mismatch"
    base.evidence = f"expected {', '.join(map(str, want))}; the proof gives {', '.join(map(str, have))}"
    return base


def answer_issue(check: AnswerCheck) -> Issue | None:
    if check.status != "mismatch":
        return None
    return Issue(severity="critical", source="answer", step=check.step, quote=check.found, confirmed=True,
                 description=f"The final answer {check.found} differs from the known answer {check.expected}.",
                 evidence=check.evidence)
