"""Reading the verdict at the end of a model's answer: a score on the loop's 0 / 0.5 / 1 rubric or points 0..7.

The verdict is read only from the answer's own verdict: the section under its last score heading ("## Score",
"**Final rating:**", ...) or, without one, its last few lines. Text the answer quotes (fenced code blocks, block
quotes, "double-quoted" passages) is never read, so a verification that quotes the proof's own `\\boxed{1}` and
ends with 0 reads 0. Forms read: `\\boxed{1}`, `\\boxed{0.5}`, `\\boxed{\\frac12}`, `\\boxed{correct}`,
`Score: 1/1`, `Points: 6/7`, `Verdict: incorrect`. A value that is a grade on another scale than the rubric asked
for (points 5/7 or `\\boxed{5}` under the binary rubric, 0.5 under points) is `rubric_mismatch`, never mapped.

Every function here is linear in its input: braces are matched in one pass and regexes cannot backtrack.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

BOXED = re.compile(r"\\(?:boxed|fbox)\s*+\{")
_BRACE = re.compile(r"[{}]")
BINARY = (0.0, 0.5, 1.0)
POINTS = tuple(float(p) for p in range(8))
RUBRICS = {"binary": BINARY, "points": POINTS}
MAX_VALUE_CHARS = 80  # a grade is short; longer boxed text is an answer or a quote, and is not read
TAIL_LINES = 3  # without a score heading, the verdict must be in the answer's last non-blank lines


def boxed_spans(text: str) -> list[tuple[int, int, int]]:
    """(offset of the command, start, end of the content) of every closed \\boxed{...}/\\fbox{...}, in order.

    Braces are matched with one stack over the whole text (linear); a box whose brace never closes is left out."""
    opens = {}
    for m in BOXED.finditer(text):
        opens[m.end() - 1] = m.start()
    if not opens:
        return []
    closes: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE.finditer(text, min(opens)):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            o = stack.pop()
            if o in opens:
                closes[o] = m.start()
    return [(opens[o], o + 1, closes[o]) for o in sorted(opens) if o in closes]


MAX_BOXED_CHARS = 10_000


def boxed_values(text: str) -> list[str]:
    """Contents of every \\boxed{...} in text, in order, with nested braces matched. Each is cut at
    MAX_BOXED_CHARS (no grade or answer is that long), so nested boxes cannot make the output quadratic."""
    return [text[s:min(e, s + MAX_BOXED_CHARS)].strip() for _, s, e in boxed_spans(text)]


_HALF = {"1/2", "\\frac{1}{2}", "\\frac12", "\\tfrac{1}{2}", "\\dfrac{1}{2}", "0.5", ".5", "0.50"}


def parse_score(value: str, allowed: tuple[float, ...] = BINARY) -> float | None:
    """'1', '1.0', '\\frac{1}{2}', '0.5' -> a float in allowed; anything else -> None."""
    v = value.strip().strip("$").replace(" ", "")
    v = re.sub(r"^\\text\{(.*)\}$", r"\1", v)
    if v in _HALF:
        x = 0.5
    else:
        try:
            x = float(v)
        except ValueError:
            return None
    return x if x in allowed else None


# ---------------------------------------------------------------- the verdict

@dataclass(frozen=True)
class Verdict:
    score: float | None  # in the rubric's values; None unless status is ok
    status: str  # ok | unparsed (no verdict found) | rubric_mismatch (a grade on another scale)
    found: str | None = None  # the verdict as written
    offset: int | None = None  # where it is in the text


_HEAD_NAMES = ("score", "final score", "overall score", "total score", "points", "final points", "grade",
               "final grade", "rating", "final rating", "verdict", "final verdict", "evaluation",
               "final evaluation", "overall evaluation", "mark", "final mark", "result", "final result")
# a heading line: "## Score", "**Final rating:**", "Points:" (possibly followed by the value on the same line)
_HEADING = re.compile(
    r"^[ \t]*+(?:#{1,6}[ \t]*+|\*\*|__)?[ \t]*+(?P<name>(?:final|overall|total)?[ \t]*+"
    r"(?:score|points|grade|rating|verdict|evaluation|mark|result))\b[ \t]*+(?:\*\*|__)?[ \t]*+:?",
    re.IGNORECASE | re.MULTILINE)
_WORDS = {"correct": "pass", "pass": "pass", "passed": "pass", "valid": "pass", "true": "pass", "yes": "pass",
          "incorrect": "fail", "fail": "fail", "failed": "fail", "invalid": "fail", "wrong": "fail", "false": "fail",
          "no": "fail", "almost": "almost", "partial": "partial"}
_LABEL_VALUE = re.compile(
    r"\b(?:score|points?|grade|rating|verdict|mark)\b[ \t]*+(?:\*\*|__)?[ \t]*+(?:is|=|:|of)[ \t]*+(?:\*\*|__)?"
    r"[ \t]*+\$?[ \t]*+(?P<v>\d{1,3}(?:\.\d{1,3})?(?:[ \t]*+/[ \t]*+\d{1,3})?(?![\d.])|(?:in)?correct\b|pass\b"
    r"|fail\b|valid\b|invalid\b|almost\b|partial\b)",
    re.IGNORECASE)
_NUMBER = re.compile(r"(?P<a>\d{1,3}(?:\.\d{1,3})?)(?:/(?P<b>\d{1,3}))?")
_FRAC = re.compile(r"\\[dt]?frac\{?(?P<a>\d{1,3})\}?\{?(?P<b>\d{1,3})\}?")


def visible(text: str) -> str:
    """The text with what it quotes blanked out (same length, same line breaks): fenced code blocks, block
    quotes (`>` lines) and double-quoted passages within a line."""
    out = []
    fence = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        end = line[len(body):]
        if body.lstrip().startswith(("```", "~~~")):
            fence = not fence
            out.append(" " * len(body) + end)
            continue
        if fence or body.lstrip().startswith(">"):
            out.append(" " * len(body) + end)
            continue
        out.append(_QUOTED.sub(lambda m: " " * len(m.group(0)), body) + end)
    return "".join(out)


_QUOTED = re.compile(r'"[^"\n]*+"|“[^”\n]*+”')


def verdict_region(text: str) -> tuple[int, int]:
    """(start, end) of the part of `text` that holds the verdict: from its last score heading to the end, else its
    last TAIL_LINES non-blank lines."""
    last = None
    for m in _HEADING.finditer(text):
        if " ".join(m.group("name").lower().split()) in _HEAD_NAMES:
            last = m
    if last is not None:
        return last.start(), len(text)
    end = len(text.rstrip())
    start, seen = end, 0
    while seen < TAIL_LINES and start > 0:
        nl = text.rfind("\n", 0, start)
        line = text[nl + 1:start]
        if line.strip():
            seen += 1
        start = max(nl, 0)
        if nl < 0:
            break
    return start, end


def _value_of(raw: str) -> tuple[str, str | float | tuple[float, float]] | None:
    """A verdict value as ('word', pass|fail|almost|partial) or ('number', x) or ('fraction', (a, b)); None when
    it is no grade (e.g. an answer such as `n = 3` boxed in the tail)."""
    if len(raw) > MAX_VALUE_CHARS:
        return None
    v = re.sub(r"\\(?:text|textbf|mathrm|mathbf|textsf|operatorname)\s*+\{([^{}]*+)\}", r"\1", raw)
    v = re.sub(r"\\[,;:! ]|\$|\*|\s", "", v).strip(".").lower()
    if v in _WORDS:
        return "word", _WORDS[v]
    m = _FRAC.fullmatch(v)
    if m:
        return "fraction", (float(m.group("a")), float(m.group("b")))
    m = _NUMBER.fullmatch(v)
    if m:
        if m.group("b") is not None:
            return "fraction", (float(m.group("a")), float(m.group("b")))
        return "number", float(m.group("a"))
    return None


def _grade(value: str | float | tuple[float, float], rubric: str) -> tuple[float | None, str]:
    """(score, status) of a read value (a word, a number or a fraction) under the rubric."""
    if isinstance(value, str):
        table = {"binary": {"pass": 1.0, "fail": 0.0}, "points": {"pass": 7.0, "fail": 0.0, "almost": 6.0,
                                                                  "partial": 1.0}}[rubric]
        return (table[value], "ok") if value in table else (None, "rubric_mismatch")
    if isinstance(value, tuple):
        a, b = value
        if b == 0 or a > b:
            return None, "rubric_mismatch"
        if rubric == "binary" and b in (1.0, 2.0) and a / b in BINARY:
            return a / b, "ok"
        if rubric == "points" and b == 7.0 and a in POINTS:
            return a, "ok"
        return None, "rubric_mismatch"
    x = value
    return (x, "ok") if x in RUBRICS[rubric] else (None, "rubric_mismatch")


def read_verdict(text: str, rubric: str = "binary") -> Verdict:
    """The answer's own verdict under `rubric` (binary: 0 | 0.5 | 1; points: 0..7)."""
    if rubric not in RUBRICS:
        raise ValueError(f"unknown rubric {rubric!r}; expected one of {', '.join(RUBRICS)}")
    shown = visible(text)
    start, end = verdict_region(shown)
    region = shown[start:end]
    found = [(start + s, region[b:e]) for s, b, e in boxed_spans(region) if e - b <= MAX_VALUE_CHARS]
    found += [(start + m.start("v"), m.group("v")) for m in _LABEL_VALUE.finditer(region)]
    for offset, raw in sorted(found, reverse=True):  # the last verdict in the region is the answer's
        read = _value_of(raw)
        if read is None:
            continue
        score, status = _grade(read[1], rubric)
        return Verdict(score, status, raw.strip(), offset)
    return Verdict(None, "unparsed")


def last_score(text: str, allowed: tuple[float, ...] = BINARY) -> float | None:
    """The answer's verdict as a score in `allowed` (the binary or the points values); None when there is no
    verdict or it is not one of those values."""
    rubric = "points" if tuple(allowed) == POINTS else "binary"
    v = read_verdict(text, rubric)
    return v.score if v.score is not None and v.score in allowed else None
