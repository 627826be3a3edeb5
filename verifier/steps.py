"""Cutting a proof into steps, and finding the step a verifier's quote came from.

A step is a paragraph, a list item, or a display-math block together with the sentence that introduces it.
Headings (Markdown `#` lines, or a line that is nothing but bold text) open the step that follows them;
horizontal rules close the step before them. A display block (`\\[...\\]`, `$$...$$`, `\\begin{env}...\\end{env}`)
is never cut, even across blank lines. Every non-blank character of the text belongs to exactly one step, and
each step's span `text[start:end]` starts and ends on a non-blank character.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from verifier.proof import Proof, Step

_ITEM = re.compile(r"^(\s*)(?:[-*+•]\s+|\d{1,3}[.)]\s+|\(\s*(?:\d{1,3}|[a-z]|[ivxlc]{1,6})\s*\)\s+|[a-z][.)]\s+)")
_HEADING = re.compile(r"^\s{0,3}(?:#{1,6}\s+\S.*|\*\*[^*\n]+\*\*\s*:?\s*|__[^_\n]+__\s*)$")
_RULE = re.compile(r"^\s{0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,}|(?:=\s*){3,})$")
_MATH_TOKEN = re.compile(r"\\\\|\\\[|\\\]|\$\$|\\begin\{([^{}]*)\}|\\end\{([^{}]*)\}")
_MATH_START = re.compile(r"^\s*(?:\\\[|\$\$|\\begin\{)")
_CONTINUATION = re.compile(r"^\s*(?:[a-z]|[,.;:)]|\\(?:quad|qquad|text|mbox)\b)")


MAX_DISPLAY_LINES = 120


@dataclass
class _Block:
    kind: str  # heading | rule | math | item | para
    start: int  # offset of the first non-blank character
    end: int  # offset just past the last non-blank character


class _MathState:
    """Tracks whether a position is inside display math or a LaTeX environment, line by line."""

    def __init__(self) -> None:
        self.bracket = False  # inside \[ ... \]
        self.dollars = False  # inside $$ ... $$
        self.envs: list[str] = []

    @property
    def inside(self) -> bool:
        return self.bracket or self.dollars or bool(self.envs)

    def feed(self, line: str) -> None:
        for m in _MATH_TOKEN.finditer(line):
            tok = m.group(0)
            if tok == "\\\\":
                continue  # a LaTeX line break, e.g. `\\[4mm]`, is not a display opener
            if tok == "\\[":
                self.bracket = True
            elif tok == "\\]":
                self.bracket = False
            elif tok == "$$":
                self.dollars = not self.dollars
            elif m.group(1) is not None:
                self.envs.append(m.group(1))
            elif m.group(2) is not None:
                name = m.group(2)
                if name in self.envs:
                    del self.envs[len(self.envs) - 1 - self.envs[::-1].index(name):]
        # a runaway environment never closed must not swallow the rest of the proof forever
        if len(self.envs) > 20:
            self.envs.clear()


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.splitlines(keepends=True):
        out.append((pos, line.rstrip("\r\n")))
        pos += len(line)
    return out


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    cur: _Block | None = None
    item_indent = -1
    state = _MathState()
    inside_for = 0  # lines spent inside display math; an unclosed \[ (a truncated proof) must not eat the rest
    for offset, line in _lines(text):
        inside_for = inside_for + 1 if state.inside else 0
        if inside_for > MAX_DISPLAY_LINES:
            state = _MathState()
            inside_for = 0
        was_inside = state.inside
        stripped = line.strip()
        if not was_inside:
            if not stripped:
                cur, item_indent = None, -1
                continue
            lead = offset + len(line) - len(line.lstrip())
            tail = offset + len(line.rstrip())
            kind = None
            if _RULE.match(line):
                kind = "rule"
            elif _HEADING.match(line) and not _MATH_START.match(line):
                kind = "heading"
            else:
                m = _ITEM.match(line)
                if m and (cur is None or cur.kind != "item" or len(m.group(1)) <= item_indent):
                    kind, item_indent = "item", len(m.group(1))
                elif cur is None or cur.kind in ("heading", "rule"):
                    kind = "math" if _MATH_START.match(line) else "para"
            if kind is not None:
                cur = _Block(kind, lead, tail)
                blocks.append(cur)
                if kind in ("heading", "rule"):
                    cur = None
            else:
                assert cur is not None  # kind stays None only when a block is open to continue
                cur.end = tail
        elif stripped and cur is not None:
            cur.end = offset + len(line.rstrip())
        elif stripped:  # inside math with no open block (cannot normally happen); open one
            cur = _Block("math", offset + len(line) - len(line.lstrip()), offset + len(line.rstrip()))
            blocks.append(cur)
        state.feed(line)
        if (cur is not None and cur.kind == "math" and not state.inside
                and not _MATH_START.match(text[cur.start:cur.end])):
            cur.kind = "para"
    return blocks


def segment(text: str) -> Proof:
    """Split a Markdown + LaTeX proof into steps with exact character spans into `text`."""
    spans: list[list[int]] = []  # [start, end, last_kind]
    kinds: list[str] = []
    pending: int | None = None  # start of headings waiting for their content
    for b in _blocks(text):
        if b.kind == "heading":
            if pending is None:
                pending = b.start
            continue
        if b.kind == "rule":
            if spans and pending is None:
                spans[-1][1] = b.end
            elif pending is None:
                pending = b.start
            continue
        merge = False
        if spans and pending is None:
            if b.kind == "math":
                merge = kinds[-1] in ("para", "item", "math")
            elif b.kind == "para" and kinds[-1] == "math" and _CONTINUATION.match(text[b.start:b.end]):
                merge = True
        if merge:
            spans[-1][1] = b.end
            kinds[-1] = b.kind
        else:
            spans.append([pending if pending is not None else b.start, b.end])
            kinds.append(b.kind)
            pending = None
    if pending is not None:
        end = len(text.rstrip())
        if spans:
            spans[-1][1] = end
        else:
            spans.append([pending, end])
    steps = [Step(i + 1, text[s:e], s, e) for i, (s, e) in enumerate(spans)]
    return Proof(text=text, steps=steps)


# ---------------------------------------------------------------- locating quotes
# Quotes and proofs write the same math in different ways (`x² ≥ 2xy`, `$x^2 \ge 2xy$`, `x^{2}\geq 2xy`); both
# are brought to one form before matching: no spacing, delimiters, braces or sizing commands, LaTeX symbols as
# their Unicode characters, super- and subscript digits as `^2` / `_2`, dashes as `-`.

_SYMBOLS = {
    "ge": "≥", "geq": "≥", "geqslant": "≥", "le": "≤", "leq": "≤", "leqslant": "≤", "ne": "≠", "neq": "≠",
    "times": "×", "in": "∈", "notin": "∉", "infty": "∞", "sqrt": "√", "to": "→", "rightarrow": "→",
    "Rightarrow": "⇒", "implies": "⇒", "Longrightarrow": "⇒", "iff": "⇔", "Leftrightarrow": "⇔",
    "Longleftrightarrow": "⇔", "equiv": "≡", "approx": "≈", "pm": "±", "mp": "∓", "sum": "∑", "prod": "∏",
    "int": "∫", "forall": "∀", "exists": "∃", "subset": "⊂", "subseteq": "⊆", "supset": "⊃", "supseteq": "⊇",
    "cup": "∪", "cap": "∩", "emptyset": "∅", "varnothing": "∅", "mid": "∣", "angle": "∠", "triangle": "△",
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "perp": "⊥", "parallel": "∥", "circ": "∘",
    "ldots": "…", "dots": "…", "cdots": "…", "dfrac": "\\frac", "tfrac": "\\frac", "neg": "¬", "lnot": "¬",
    "land": "∧", "wedge": "∧", "lor": "∨", "vee": "∨", "partial": "∂", "nabla": "∇", "deg": "°",
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ",
    "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ",
    "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
_DROPPED_COMMANDS = {
    "left", "right", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr", "big", "Big", "bigg",
    "Bigg", "displaystyle", "textstyle", "quad", "qquad", "limits", "nolimits", "cdot", "text", "textrm",
    "mathrm", "mathbf", "mathit", "textbf", "textit", "emph", "boldsymbol", "operatorname", "mbox", "hbox",
}
# one character for one (offsets stay valid); a product dot becomes a blank, dropped like `*`
_UNICODE = str.maketrans({"⋅": " ", "·": " ", "∙": " ", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-",
                          "“": '"', "”": '"', "‘": "'", "’": "'", "≦": "≤", "≧": "≥", "⩽": "≤", "⩾": "≥",
                          "ϵ": "ε", "ϕ": "φ", "ϑ": "θ"})
_SUPER = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹ⁿⁱ⁺⁻", "0123456789ni+-")
_SUB = str.maketrans("₀₁₂₃₄₅₆₇₈₉ₙᵢ₊₋", "0123456789ni+-")
_TOKEN = re.compile(r"\\([a-zA-Z]++)|\\(.)|([⁰¹²³⁴⁵⁶⁷⁸⁹ⁿⁱ⁺⁻]++)|([₀₁₂₃₄₅₆₇₈₉ₙᵢ₊₋]++)|(\.\.\.|…)|([\s${}~*`#&]++)|(.)",
                    re.DOTALL)
_ELLIPSIS = re.compile(r"\.\.\.|…|\\ldots|\\dots|\\cdots|\[\s*\.\.\.\s*\]")
MAX_QUOTE = 2000  # a quote longer than this is matched on its first MAX_QUOTE characters


@lru_cache(maxsize=256)
def _normalize(s: str) -> tuple[str, tuple[int, ...]]:
    """Lower-cased text in the one form described above, and for each kept character its offset in `s`.
    One pass of one regex: linear in `s`."""
    chars: list[str] = []
    where: list[int] = []

    def emit(text: str, at: int) -> None:
        for c in text:
            chars.append(c)
            where.append(at)

    for m in _TOKEN.finditer(s.translate(_UNICODE)):
        at = m.start()
        name, escaped, sup, sub, dots, _blank, other = m.groups()
        if name is not None:
            if name not in _DROPPED_COMMANDS:
                emit(_SYMBOLS.get(name, "\\" + name).lower(), at)
        elif escaped is not None:
            if escaped not in ",;:! ()[]{}":  # \, \; spacing, \( \[ delimiters, \{ braces
                emit("\\" + escaped, at)
        elif sup is not None:
            emit("^" + sup.translate(_SUPER), at)
        elif sub is not None:
            emit("_" + sub.translate(_SUB), at)
        elif dots is not None:
            emit("…", at)
        elif other is not None:
            emit(other.lower(), at)
    return "".join(chars), tuple(where)


def _grams(s: str, k: int = 4) -> set[str]:
    return {s[i:i + k] for i in range(max(1, len(s) - k + 1))} if s else set()


def anchor(proof: Proof, quote: str | None, min_overlap: float = 0.6) -> tuple[Step | None, str | None]:
    """(the step a quote comes from, how it was found: exact | fuzzy | unanchored); (None, None) without a quote.

    exact: the quote (or, around `...`, its longest pieces) occurs in the proof up to the math normalisation
    above. fuzzy: the step sharing most of the quote's character 4-grams (at least `min_overlap` of them); among
    steps that share about as many, the tightest (the one the quote covers most of), so long steps do not win
    by their length alone."""
    if not quote or not quote.strip():
        return None, None
    if not proof.steps:
        return None, "unanchored"
    quote = quote[:MAX_QUOTE]
    norm_text, where = _normalize(proof.text)

    def step_of(norm_pos: int) -> Step:
        off = where[norm_pos]
        step = proof.step_at(off)
        if step is None:
            step = next((s for s in proof.steps if s.start >= off), proof.steps[-1])
        return step

    pieces = [quote] + sorted((p for p in _ELLIPSIS.split(quote) if p.strip()), key=len, reverse=True)
    for piece in pieces:
        q, _ = _normalize(piece)
        q = q.strip('"\'')
        if len(q) < 3:
            continue
        pos = norm_text.find(q)
        if pos >= 0:
            return step_of(pos), "exact"
    q, _ = _normalize(quote)
    if len(q) < 6:
        return None, "unanchored"
    qg = _grams(q)
    scored = []
    for step in proof.steps:
        sg = _grams(_normalize(step.text)[0])
        shared = len(qg & sg)
        scored.append((shared / len(qg), shared / max(1, len(sg)), step))
    best = max(c for c, _, _ in scored)
    if best < min_overlap:
        return None, "unanchored"
    close = [(p, -s.index, s) for c, p, s in scored if c >= best - 0.1 and c >= min_overlap]
    return max(close, key=lambda t: (t[0], t[1]))[2], "fuzzy"


def locate(proof: Proof, quote: str | None, min_overlap: float = 0.6) -> Step | None:
    """The step a quote comes from (see `anchor`); None when nothing fits."""
    return anchor(proof, quote, min_overlap)[0]
