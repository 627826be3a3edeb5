"""The final answer of a proof, and its check against a problem's known answer.

The proof's answer is its final `\\boxed{...}`, else an `Answer:` line, else the last "the answer is ...". With
several boxes, the final one is read from the proof's conclusion: the boxes under its last "Answer" /
"Conclusion" heading (or `Answer:` line), else those of its last paragraph; boxes elsewhere count only when they
all agree. When the conclusion's boxes disagree, or no box is in it and the boxes disagree, the answer can only
be found to match (the last box, or all of them as a list, equals the known answer), never to mismatch.

Both answers are read with verifier.latex (never eval): an integer must match exactly, an expression must be
equivalent (simplification, then 40-digit evaluation), and a list such as `k = 0, 1, 3` or `\\{0,1,3\\}` is
compared as a set. A tuple such as `(a, b) = (3, 5)` is compared entry by entry; the same entries in another order
are left unchecked (the problem may not care about order).
Free-text answers ("all odd $k$") are compared by the words that carry their meaning (odd, even, prime,
positive, all, none, ...), not by their variable name: the same words and the same variable match; words that
exclude each other (odd / even, prime / composite, ...) with nothing else differing and no negation mismatch;
anything else is unchecked. Answer texts longer than MAX_ANSWER_CHARS are unchecked.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import sympy as sp

from verifier.latex import ParseFailure, parse_math
from verifier.proof import Proof
from verifier.scores import boxed_spans
from verifier.symbolic import CheckTimeout, call_limited
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


MAX_ANSWER_CHARS = 2000  # an answer longer than this is not compared (it is prose, or hostile)
# a line that opens the proof's conclusion: "## Answer", "**Conclusion.**", "Final answer:", "Answer: ..."
_CONCLUSION = re.compile(
    r"^[ \t]*+(?:#{1,6}[ \t]*+|\*\*|__)?[ \t]*+(?:\d{1,2}[.)][ \t]*+)?(?:the[ \t]++)?(?:final[ \t]++)?"
    r"(?:answer|conclusion|result|summary)\b", re.IGNORECASE | re.MULTILINE)


def _boxed(text: str) -> list[tuple[int, str]]:
    """(offset, content) of each box; a content longer than MAX_ANSWER_CHARS is cut just past it (it is then
    not compared), so nested boxes cannot make this quadratic."""
    return [(start, text[s:min(e, s + MAX_ANSWER_CHARS + 1)]) for start, s, e in boxed_spans(text)]


def _same(a: str, b: str) -> bool:
    return re.sub(r"\\[,;:! ]|\s|\\quad|\\qquad", "", a) == re.sub(r"\\[,;:! ]|\s|\\quad|\\qquad", "", b)


def final_answers(text: str) -> tuple[list[tuple[int, str]], bool]:
    """(the boxes that make the proof's final answer, decisive). decisive is False when they disagree: then
    the answer may be found to match but is never called a mismatch. [] when the proof boxes nothing."""
    boxes = _boxed(text)
    if not boxes:
        return [], True
    starts = [m.start() for m in _CONCLUSION.finditer(text)]
    pool = [b for b in boxes if starts and b[0] >= starts[-1]]
    if not pool:
        last_par = max(text.rstrip().rfind("\n\n"), 0)
        pool = [b for b in boxes if b[0] >= last_par]
    pool = pool or boxes
    return pool, all(_same(b[1], pool[-1][1]) for b in pool)


def final_answer(text: str) -> tuple[int, str] | None:
    """(offset, answer text) of the proof's final answer, or None."""
    boxed = final_answers(text)[0]
    if boxed:
        return boxed[-1]
    for pattern in (r"\*{0,2}(?:final\s+)?answer\s*[:.]\*{0,2}\s*(.+)", r"the answer is\s+(.+?)(?:\.\s|\.$|\n|$)"):
        found = list(re.finditer(pattern, text, re.IGNORECASE))
        if found:
            return found[-1].start(1), found[-1].group(1).strip()
    return None


# ---- the words of a free-text answer

_WORD_FORMS = {"integers": "integer", "numbers": "number", "primes": "prime", "squares": "square",
               "cubes": "cube", "powers": "power", "multiples": "multiple", "divisors": "divisor",
               "every": "all", "any": "all", "each": "all", "values": "value", "solutions": "solution",
               "exist": "exists", "reals": "real"}
MEANING = {"odd", "even", "prime", "composite", "positive", "negative", "nonnegative", "nonpositive", "nonzero",
           "zero", "rational", "irrational", "real", "complex", "natural", "square", "cube", "power", "multiple",
           "divisor", "divisible", "all", "none", "no", "not", "never", "only", "except", "other", "some",
           "exists", "exactly", "least", "most", "infinitely", "finitely", "many", "finite", "infinite",
           "distinct", "constant", "linear", "greater", "less", "larger", "smaller", "between", "neither", "nor",
           "perfect", "coprime", "empty", "impossible", "possible", "unique"}
NEGATIONS = {"no", "not", "never", "none", "except", "other", "neither", "nor", "impossible"}
NOUNS = {"integer", "number", "value", "solution"}  # what the answer is about; does not change it
EXCLUSIVE = ({"odd", "even"}, {"prime", "composite"}, {"rational", "irrational"}, {"positive", "negative"},
             {"positive", "nonpositive"}, {"negative", "nonnegative"}, {"finitely", "infinitely"},
             {"finite", "infinite"}, {"zero", "nonzero"}, {"all", "none"})


def meaning_words(ans: str) -> set[str]:
    """The words of an answer that carry its meaning, plurals and synonyms folded ('even integers' ->
    {'even', 'integer'}); LaTeX commands and one-letter names are not words."""
    s = re.sub(r"\\[a-zA-Z]++", " ", ans[:MAX_ANSWER_CHARS]).lower()
    s = re.sub(r"\bnon[- ]", "non", s)
    words = {_WORD_FORMS.get(w, w) for w in re.findall(r"[a-z]{2,}", s)}
    return {w for w in words if w in MEANING or w in NOUNS}


_FILLER = {"the", "answer", "final", "is", "are", "of", "for", "and", "that", "such", "which", "we", "get", "hence",
           "so", "thus", "therefore", "those", "these", "exactly"} | NOUNS


def _all_words(ans: str) -> list[str]:
    """Every word of an answer, folded, without filler: two answers with the same words say the same."""
    s = re.sub(r"\\(?:text|mathrm|textbf|textit|mbox)\b|\\[a-zA-Z]++", " ", ans[:MAX_ANSWER_CHARS]).lower()
    s = re.sub(r"\bnon[- ]", "non", s)
    return [w for w in (_WORD_FORMS.get(w, w) for w in re.findall(r"[a-z]{2,}", s)) if w not in _FILLER]


def compare_words(expected: str, got: str) -> tuple[bool | None, str] | None:
    """The words' verdict on two free-text answers: (True, ...) same words, (False, ...) words that exclude each
    other, (None, ...) cannot tell; None when neither answer has such words."""
    we, wg = meaning_words(expected), meaning_words(got)
    if not (we - NOUNS) and not (wg - NOUNS):
        return None
    if we - NOUNS == wg - NOUNS:
        if _all_words(expected) == _all_words(got):
            return True, "the same words"
        return None, "the same key words among other words that differ"
    differ = (we ^ wg) - NOUNS
    if (we | wg) & NEGATIONS:
        return None, "the words differ and one answer is negated"
    for pair in EXCLUSIVE:
        a, b = sorted(pair)
        if ((a in we and b in wg) or (b in we and a in wg)) and differ <= pair:
            return False, f"'{a}' against '{b}'"
    return None, f"the words differ: {', '.join(sorted(differ))}"


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


def _split_list(s: str) -> list[str]:
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


def _values_equal(want: list[sp.Expr], have: list[sp.Expr]) -> tuple[bool | None, str]:
    if len(want) == 1 and len(have) == 1:
        return _equal(want[0], have[0])
    # compare as sets: every value on each side has an equal value on the other
    for xs, ys in ((want, have), (have, want)):
        for x in xs:
            hits = [_equal(x, y, ordered=True)[0] for y in ys]
            if True not in hits:
                return (None if None in hits else False), "set comparison"
    return True, "set comparison"


def read_and_compare(expected: str, got: str) -> tuple[list[sp.Expr], list[sp.Expr], bool | None, str]:
    """Both answers read, and the verdict on their values (run under a time limit, in a worker off the main
    thread)."""
    want, have = read_answer(expected), read_answer(got)
    return (want, have) + _values_equal(want, have)


def _numbers(ans: str) -> list[str]:
    return sorted(re.findall(r"\d+", ans))


def compare(expected: str, got: str) -> tuple[bool | None, str, str]:
    """(equal?, method, evidence) for two answer texts; None when it cannot be told with confidence."""
    if len(expected) > MAX_ANSWER_CHARS or len(got) > MAX_ANSWER_CHARS:
        return None, "", f"an answer longer than {MAX_ANSWER_CHARS} characters is not compared"
    words = compare_words(expected, got)
    same_numbers = _numbers(expected) == _numbers(got)
    try:
        want, have, ok, method = call_limited("verifier.answer:read_and_compare", (expected, got), 3.0)
    except ParseFailure as exc:
        if words is not None and words[0] is True and same_numbers:
            return True, "words", "the same words and numbers, no formula to compare"
        if words is not None and words[0] is False and same_numbers:
            return False, "words", f"the answers say {words[1]}"
        return None, "", f"answer not read as a formula: {exc}"
    except (CheckTimeout, TypeError, ValueError, ZeroDivisionError, AttributeError, RecursionError):
        return None, "", "could not compare the answers"
    shown = f"expected {', '.join(map(str, want))}; the proof gives {', '.join(map(str, have))}"
    if words is not None:
        free_text = all(isinstance(v, sp.Symbol) for v in want + have)
        w_ok, w_method = words
        if free_text:
            # the name ('k') says nothing; the words and numbers around it carry the answer
            if w_ok is True and ok is True and same_numbers:
                return True, "words", f"the same words about {', '.join(map(str, want))}"
            if w_ok is False and same_numbers:
                return False, "words", f"the answers say {w_method}"
            return None, "words", f"free-text answers, {w_method}"
        if ok is True and w_ok is not True and meaning_words(expected) - NOUNS and meaning_words(got) - NOUNS:
            return None, method, f"the values agree but {w_method}"
    if ok is None:
        return None, method, "could not decide whether the answers are equal"
    return ok, method, shown


def check_answer(expected: str | None, proof: Proof | str) -> AnswerCheck:
    """Compare the proof's final answer with the known one."""
    text = proof.text if isinstance(proof, Proof) else proof
    if not expected or not expected.strip() or expected.strip().lower() in ("null", "none", "n/a"):
        return AnswerCheck("no_reference")
    boxes, decisive = final_answers(text)
    found = boxes[-1] if boxes else final_answer(text)
    if found is None:
        return AnswerCheck("no_answer", expected=expected, evidence="no boxed or stated final answer found")
    offset, got = found
    step = proof.step_at(offset) if isinstance(proof, Proof) else None
    base = AnswerCheck("unchecked", expected=expected, found=got, step=step.index if step else None)
    ok, method, evidence = compare(expected, got)
    if not decisive and ok is not True:
        # the boxes disagree: the last one did not match; all of them read as one list may
        joined = ", ".join(b for _, b in boxes)
        ok, method, evidence = compare(expected, joined)
        if ok is True:
            base.found = joined
        else:
            ok, evidence = None, f"{len(boxes)} different boxed answers; the proof's final answer is not clear"
    base.method = method
    base.evidence = evidence
    if ok is not None:
        base.status = "match" if ok else "mismatch"
    return base


def answer_issue(check: AnswerCheck) -> Issue | None:
    if check.status != "mismatch":
        return None
    return Issue(severity="critical", source="answer", step=check.step, quote=check.found, confirmed=True,
                 description=f"The final answer {check.found} differs from the known answer {check.expected}.",
                 evidence=check.evidence)
