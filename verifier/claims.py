"""Finding the checkable claims in a step: equalities and chains, inequalities, congruences, computed values.

A claim is one link `lhs REL rhs` of a relation chain found in the step's math (inline `$..$`, `\\(..\\)`, display
`\\[..\\]`, `$$..$$`, aligned environments) or in plain-text formulas (`a*b = c`, `n mod 9 = 3`). Only text is
produced here; verifier.symbolic parses and judges it.
"""
from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import asdict, dataclass

RELATIONS = {
    "=": "=", "\\ne": "!=", "\\neq": "!=", "<": "<", ">": ">", "\\lt": "<", "\\gt": ">",
    "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=",
    "\\equiv": "==mod", "≤": "<=", "≥": ">=", "≠": "!=", "≡": "==mod",
}
# relations we do not judge: they cut a chain into pieces
OTHER_RELATIONS = (
    "\\approx", "\\sim", "\\simeq", "\\cong", "\\in", "\\notin", "\\subset", "\\subseteq", "\\supset", "\\supseteq",
    "\\mid", "\\nmid", "\\perp", "\\parallel", "\\propto", "\\gg", "\\ll", "\\to", "\\mapsto", "\\coloneqq",
    "\\equiv_", "\\prec", "\\succ", "\\triangleq", "\\stackrel", "\\overset", "\\underset", "\\vdots", "\\ni",
    ":=", "=:", "\\lessdot", "\\asymp", "\\models", "\\vdash", "\\cap", "\\cup", "\\setminus", "\\pm", "\\mp",
)
SEPARATORS = re.compile(
    r"\\(?:q?quad|Longrightarrow|Rightarrow|Longleftrightarrow|Leftrightarrow|implies|iff|impliedby|Leftarrow|"
    r"Longleftarrow|longrightarrow|rightarrow|land|lor|wedge|vee|forall|exists|therefore|because|hspace\{[^{}]*\}|"
    r"text\{[^{}]*\}|textbf\{[^{}]*\}|textit\{[^{}]*\}|mbox\{[^{}]*\}|mathrm\{[^{}]{2,}\}|emph\{[^{}]*\}|"
    r"\\(?:\[[^\]]*\])?)(?![a-zA-Z])|;|&"
)
HYPOTHETICAL = re.compile(
    r"\b(?:suppose|supposing|assume|assuming|assumption|contradict\w*|impossible|absurd|would|cannot|can't|"
    r"false|otherwise|wrong|incorrect|fail\w*|whereas|unless|hypothe\w*|claim\w*|conjectur\w*|typo|mistake\w*|"
    r"erroneous|not\s+equal|never|neither|nor|else)\b|\?",
    re.IGNORECASE,
)
MODULAR = re.compile(r"\\[pb]?mod\b|\bmod(?:ulo|ulus)?\b|\bresidue|\\mathbb\s*\{?[ZF]_|\bparity\b",
                     re.IGNORECASE)
_MOD_PATTERNS = [
    (re.compile(r"\\pmod\s*\{([^{}]*)\}"), r" @MOD{\1}"),
    (re.compile(r"\\pmod\s*(\\?[A-Za-z]+|\d+)"), r" @MOD{\1}"),
    (re.compile(r"\(\s*\\(?:bmod|mod)\s*\{?([^(){}]*)\}?\s*\)"), r" @MOD{\1}"),
    (re.compile(r"\(\s*\\(?:text|mathrm|operatorname)\{\s*mod\s*\}\s*(?:\\[,;! ]\s*)*\{?([^(){}]*)\}?\s*\)"),
     r" @MOD{\1}"),
    (re.compile(r"\(\s*mod\s+([^()]*)\)"), r" @MOD{\1}"),
    (re.compile(r"\\(?:text|mathrm|operatorname)\{\s*mod\s*\}"), r" \\bmod "),
    (re.compile(r"\\mod(?![a-zA-Z])"), r" \\bmod "),
]
MATH_ENVS = ("equation", "align", "aligned", "gather", "gathered", "eqnarray", "multline")
_OPENER = re.compile(r"\$\$|\\\[|\\\(|\$|\\begin\{(" + "|".join(MATH_ENVS) + r")\*?\}")
_SKIP_ENVS = re.compile(r"\\begin\{(?:cases|array|matrix|pmatrix|bmatrix|vmatrix|tabular|dcases)")
_ATOM = r"[-−]?[\w()!.]+"
_OPERAND = _ATOM + r"(?:\s*(?:[+\-*/^·×−÷]|\bmod\b)\s*" + _ATOM + r")*"
_PLAIN = re.compile(_OPERAND + r"(?:\s*[=<>≤≥≡]\s*" + _OPERAND + r")+(?:\s*\(mod\s+\w+\))?")
# where a plain-text formula may start: not inside a word, a number or an operator chain
_PLAIN_START = re.compile(r"(?<![\w\\+\-*/^.!·×−÷=<>≤≥≡()])[-−]?[\w(]")
# Before or after a plain-text formula, these mean the formula goes on in a form we do not read (dashes used as
# minus, ÷ chains, roots, a thousands separator, an operator word): judging the piece we can read would judge a
# fragment ("5–1 = 4" is not "1 = 4").
_CUT_CHARS = set("+-*/^·×−÷=<>≤≥≡‐‑‒–—―√∛∜±∓%|'_\\)]}") | set("0123456789")
OPERATOR_WORDS = {"choose", "ln", "log", "lg", "sin", "cos", "tan", "cot", "sec", "csc", "exp", "sqrt", "root",
                  "over", "times", "plus", "minus", "by", "of", "mod", "modulo", "binom", "gcd", "lcm", "floor",
                  "ceil", "ceiling", "sum", "product", "power", "squared", "cubed", "factorial", "percent", "C", "P",
                  "th", "st", "nd", "rd", "divided", "multiplied", "from", "per", "digits"}
_WORD_BEFORE = re.compile(r"([A-Za-z]+)[ \t]*$")
_WORD_AFTER = re.compile(r"[ \t]*([A-Za-z]+)")
_STRIP = re.compile(r"\\(?:tag|label|eqref|ref)\{[^{}]*\}|\\(?:nonumber|notag)(?![a-zA-Z])")


# a modulus stated in prose or math: "mod 7", "modulo p", \pmod{7}, (mod 7), \mathbb{Z}_7, \mathbb{Z}/7\mathbb{Z}
_STATED_MODULUS = re.compile(
    r"(?:\\[pb]?mod(?![a-zA-Z])|\\(?:text|mathrm|operatorname)\{\s*mod\s*\}|\bmod(?:ulo)?\b)\s*(?:\\[,;: ]\s*)*"
    r"\{?\s*(\d+|[A-Za-z](?![A-Za-z])|\\[A-Za-z]+)"
    r"|\\mathbb\s*\{?\s*[ZF]\s*\}?\s*(?:_\s*\{?|/\s*)(\d+|[A-Za-z](?![A-Za-z]))"
)


def stated_moduli(text: str) -> list[tuple[int, str]]:
    """(offset, modulus) for each modulus the text states, a number ('7') or a name ('p', '\\ell')."""
    out = []
    for m in _STATED_MODULUS.finditer(text):
        mod = m.group(1) or m.group(2)
        if mod and mod not in ("\\left", "\\right", "\\text", "\\mathrm"):
            out.append((m.start(), mod))
    return out


@dataclass
class Claim:
    """One link of a relation chain, as text: `lhs relation rhs` (with `modulus` for congruences)."""

    lhs: str
    relation: str  # = | != | < | > | <= | >= | ==mod
    rhs: str
    modulus: str | None = None
    start: int = 0  # span of the formula it came from (with its delimiters), in the step text
    end: int = 0
    hypothetical: bool = False  # found in a sentence that supposes, negates or reaches a contradiction
    chain: str = ""  # the whole formula it came from
    context: str = ""  # the sentence around it
    modular_context: bool = False  # the sentence speaks of residues: "3+3 = 2" may be arithmetic mod n
    moduli: tuple[str, ...] = ()  # moduli stated earlier in the step or the proof (mod 7, mod p)
    skipped: int = 0  # > 0: not a claim but the rest of the step, left unread when the proof's budget ran out

    @classmethod
    def rest_of_step(cls, text: str, start: int, formulas: int) -> Claim:
        return cls(text[start:start + 80].strip(), "=", "", start=start, end=len(text), skipped=max(formulas, 1))

    @property
    def text(self) -> str:
        if self.skipped:
            return f"{self.skipped} formula(s) from '{self.lhs}'"
        rel = {"==mod": "\\equiv", "!=": "\\ne", "<=": "\\le", ">=": "\\ge"}.get(self.relation, self.relation)
        mod = f" \\pmod{{{self.modulus}}}" if self.modulus else ""
        return f"{self.lhs.strip()} {rel} {self.rhs.strip()}{mod}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["text"] = self.text
        return d


def _split_top(s: str, seps: re.Pattern) -> list[tuple[int, str]]:
    """Split at separators that are not inside braces or parentheses; pieces with their offsets."""
    pieces, depth, start, i = [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            i += 2
            continue
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth = max(0, depth - 1)
        if depth == 0:
            m = seps.match(s, i)
            if m and m.end() > i:
                pieces.append((start, s[start:i]))
                start = i = m.end()
                continue
        i += 1
    pieces.append((start, s[start:]))
    return pieces


_REL_TOKEN = re.compile(
    r"(" + "|".join(re.escape(r) for r in sorted(OTHER_RELATIONS, key=len, reverse=True)) + r")(?![a-zA-Z])"
    r"|(\\(?:neq|ne|leqslant|geqslant|leq|geq|le|ge|lt|gt|equiv)(?![a-zA-Z])|[=<>≤≥≠≡])"
)
_COMMA = re.compile(r",")
_SEP_AND_COMMA = re.compile(SEPARATORS.pattern + r"|,")


def _chain_links(formula: str) -> list[tuple[str, str, str]]:
    """[(lhs, rel, rhs)] for the judged relations in one formula; other relations cut the chain."""
    parts: list[str] = []
    rels: list[str | None] = []
    depth, start, i = 0, 0, 0
    while i < len(formula):
        c = formula[i]
        if c in "{(":
            depth += 1
        elif c in "})":
            depth = max(0, depth - 1)
        if depth == 0:
            m = _REL_TOKEN.match(formula, i)
            if m and not (c == "<" and formula[i - 5:i] == "\\left") and formula[i - 1:i] not in (":",):
                parts.append(formula[start:i])
                rels.append(RELATIONS.get(m.group(2)) if m.group(2) else None)
                start = i = m.end()
                continue
        i += 1
    parts.append(formula[start:])
    links = []
    for k, rel in enumerate(rels):
        if rel is None:
            continue
        lhs, rhs = parts[k], parts[k + 1]
        if lhs.strip() and rhs.strip():
            links.append((lhs, rel, rhs))
    return links


_TEXT = re.compile(r"\\(?:text|textrm|textit|mathrm|mbox)\s*\{([^{}]*)\}")  # not \\operatorname{lcm}: a function


def _operator_text(m: re.Match) -> str:
    """`6 \\text{ choose } 2`, `\\text{digits of } 123`: words that act on the numbers beside them; a formula with
    them is not read (it would otherwise be cut there, and `2 = 15` judged)."""
    words = re.findall(r"[A-Za-z]+", m.group(1))
    if words and (words[0] in OPERATOR_WORDS or words[-1] in OPERATOR_WORDS) and words[0] != "mod":
        return " \\opaque "
    return str(m.group(0))


def _formula_claims(formula: str, offset: int, span_end: int, context: str, room: int = 10**9) -> list[Claim]:
    formula = _STRIP.sub(" ", formula)
    formula = re.sub(r"\\[,;:! ]", " ", formula).replace("{,}", "")
    if re.search(r"\d,\d{3}(?!\d)", formula):
        return []  # 1,000 is a number to a reader and two numbers to a parser: leave it
    if _SKIP_ENVS.search(formula):
        return []
    formula = re.sub(r"\\(?:begin|end)\{(?:aligned|align\*?|gathered|split|equation\*?)\}", " ", formula)
    for pat, rep in _MOD_PATTERNS:
        formula = pat.sub(rep, formula)
    formula = _TEXT.sub(_operator_text, formula)
    hypothetical = bool(HYPOTHETICAL.search(context))
    claims: list[Claim] = []
    # lines of an aligned block that start with a relation continue the previous line's chain
    lines = re.split(r"\\\\(?:\[[^\]]*\])?", formula)
    merged: list[str] = []
    for line in lines:
        bare = line.replace("&", " ").strip()
        if merged and re.match(r"(?:=|<|>|\\le|\\ge|\\ne|\\equiv)", bare):
            merged[-1] += " " + bare
        elif bare:
            merged.append(bare)
    for line in merged:
        pieces = [p for _, p in _split_top(line, _SEP_AND_COMMA)]
        # a piece that is only a modulus belongs to the piece before it
        joined: list[str] = []
        for p in pieces:
            if re.fullmatch(r"\s*@MOD\{[^{}]*\}\s*\.?\s*", p) and joined:
                joined[-1] += " " + p
            elif p.strip():
                joined.append(p)
        for piece in joined:
            modulus = None
            m = re.search(r"@MOD\{([^{}]*)\}", piece)
            if m:
                modulus = m.group(1).strip()
                piece = piece[:m.start()] + piece[m.end():]
            if "@MOD" in piece:
                continue
            piece = piece.strip().rstrip(".,;:").strip()
            links = _chain_links(piece)
            modular_chain = any(rel == "==mod" for _, rel, _ in links)
            for lhs, rel, rhs in links:
                if modulus is not None and rel == "=":
                    rel = "==mod"
                if modulus is None and modular_chain and rel == "=":
                    continue  # A ≡ 3+3 = 2 with the modulus in the prose: arithmetic modulo something unknown
                if rel == "==mod" and modulus is None:
                    continue
                claims.append(Claim(lhs.strip(), rel, rhs.strip().rstrip(".,;:"), modulus if rel == "==mod" else None,
                                    offset, span_end, hypothetical, piece, context,
                                    bool(MODULAR.search(context))))
                if len(claims) >= room:
                    return claims
    return claims


_NEW_ITEM = re.compile(r"\n[ \t]*(?:\||[-*+•][ \t]|\d{1,3}[.)][ \t]|\(\w{1,4}\)[ \t])")
# how a paragraph opens when it rejects what the paragraph before derived: "This is a contradiction.",
# "Contradiction!", "But this is impossible", "which is absurd"
REJECTS = re.compile(
    r"^[\W_]*(?:(?:this|that|which|it|but|so|hence|thus|and|again|clearly|obviously|however|here)[\s,]+){0,3}"
    r"(?:(?:is|was|gives|yields|leads\s+to|would\s+be|means|contradicts)\s+)?(?:(?:a|an|clearly|obviously)\s+)?"
    r"(?:contradict\w*|impossible|absurd\w*|false|not\s+possible|a\s+contradiction)\b|^[\W_]*(?:⊥|↯|\\(?:bot|lightning)\b)",
    re.IGNORECASE)


def _context(text: str, start: int, end: int, following: str = "") -> str:
    """The sentence around a formula and the sentence after it (where "a contradiction" usually comes); a table
    row or list item is its own context. When the formula ends its paragraph, the first sentence of the next
    paragraph (in `text`, else in `following`, the text after this step) is added if it rejects what came before."""
    before = text[max(0, start - 250):start]
    cut = max(before.rfind(". "), before.rfind(".\n"), before.rfind("\n\n"))
    items = list(_NEW_ITEM.finditer(before))
    if items:
        cut = max(cut, items[-1].start())
    before = before[cut + 1:] if cut >= 0 else before
    window = text[end:end + 400]
    after = window[:200]
    par = after.find("\n\n")
    stops = [par] if par >= 0 else []
    m = _NEW_ITEM.search(after)
    if m:
        stops.append(m.start())
    if stops:
        after = after[:min(stops)]
    ends = [m.end() for m in re.finditer(r"[.!?](?:\s|$)", after)]
    if len(ends) >= 2:
        after = after[:ends[1]]
    if len(ends) <= 1 and not m:
        # the formula's sentence closes its paragraph: "We get 1 = 2.\n\nThis is absurd." rejects it
        p = window.find("\n\n")
        if p >= 0:
            nxt = window[p:].lstrip()
        else:  # the step ends with this sentence: its next paragraph is the next step
            nxt = following.lstrip() if len(text) - end < 200 else ""
        first = re.split(r"(?<=[.!?])\s", nxt[:200], maxsplit=1)[0]
        if REJECTS.search(first):
            after += " " + first
    return before + " " + after


# ---- linear scanning of math delimiters

class _Finder:
    """The next occurrence of a fixed closer at or after a position, remembered, so that many openers sharing
    one closer (or one that never comes) cost a single scan of the text."""

    def __init__(self, text: str, pattern: re.Pattern):
        self.text, self.pattern = text, pattern
        self.asked: int = -1
        self.found: re.Match | None = None  # the last search began at `asked` and found `found` (None: nothing)

    def find(self, pos: int) -> re.Match | None:
        if self.asked >= 0 and self.asked <= pos and (self.found is None or pos <= self.found.start()):
            return self.found
        self.asked, self.found = pos, self.pattern.search(self.text, pos)
        return self.found


def math_spans(text: str) -> list[tuple[int, int, int, int]]:
    """(start, end, body start, body end) of each math span, left to right, not overlapping: `$$..$$`, `\\[..\\]`,
    `\\(..\\)`, `$..$` and equation-like environments. Linear in the text, closed or not."""
    finders: dict[str, _Finder] = {}

    def finder(key: str, pattern: str) -> _Finder:
        if key not in finders:
            finders[key] = _Finder(text, re.compile(pattern))
        return finders[key]

    spans: list[tuple[int, int, int, int]] = []
    pos = 0
    while True:
        m = _OPENER.search(text, pos)
        if not m:
            return spans
        op, body = m.group(0), m.end()
        close = None
        if op == "$$":
            close = finder("$$", r"\$\$").find(body + 1)
        elif op == "\\[":
            close = finder("]", r"\\\]").find(body + 1)
        elif op == "\\(":
            close = finder(")", r"\\\)").find(body + 1)
        elif op == "$":
            if m.start() == 0 or text[m.start() - 1] not in "\\$":
                nxt = finder("$", r"\$").find(body)
                close = nxt if nxt is not None and nxt.start() > body else None
        else:
            env = m.group(1)
            close = finder(env, r"\\end\{" + env + r"\*?\}").find(body + 1)
        if close is None:
            pos = m.start() + 1
            continue
        spans.append((m.start(), close.end(), body, close.start()))
        pos = close.end()


# ---- plain-text formulas

def _cut_before(plain: str, start: int) -> bool:
    """Whether the text just before a plain-text formula continues it in a form we do not read."""
    before = plain[max(0, start - 40):start]
    stripped = before.rstrip(" \t")
    if not stripped:
        return False
    c = stripped[-1]
    if c in _CUT_CHARS or unicodedata.category(c) == "Sm":
        return True
    if c in ",:" and len(stripped) == len(before) and len(stripped) >= 2 and stripped[-2].isdigit():
        return True  # 30,240 (a thousands separator) or 3:2 (a ratio): the number goes on
    w = _WORD_BEFORE.search(stripped)
    return w is not None and (w.group(1) in OPERATOR_WORDS or w.group(1).lower() in OPERATOR_WORDS)


def _cut_after(plain: str, end: int) -> bool:
    after = plain[end:end + 40]
    stripped = after.lstrip(" \t")
    if not stripped:
        return False
    c = stripped[0]
    if c in "+-*/^·×−÷=<>≤≥≡‐‑‒–—―√∛∜!²³" or (unicodedata.category(c) == "Sm" and c not in "|"):
        return True
    if c in ",.:" and len(stripped) >= 2 and stripped[1].isdigit() and len(stripped) == len(after):
        return True  # 30,240 cut after "30", or 3:2 = 6:4 after "6"
    w = _WORD_AFTER.match(after)
    return w is not None and w.group(1).lower() in OPERATOR_WORDS - {"of", "by", "from", "per", "digits", "C", "P"}


def _plain_formulas(plain: str) -> list[re.Match]:
    """Plain-text formulas, left to right; a start inside an operator chain is never tried (linear in the text)."""
    out: list[re.Match] = []
    pos = 0
    while True:
        s = _PLAIN_START.search(plain, pos)
        if not s:
            return out
        at = s.start()
        if _cut_before(plain, at):
            pos = at + 1
            continue
        m = _PLAIN.match(plain, at)
        if not m:
            pos = at + 1
            continue
        out.append(m)
        pos = m.end()


INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\u00ad\ufeff\u180e"), None)
INVISIBLE_OPERATORS = dict.fromkeys(map(ord, "\u2061\u2062\u2063\u2064"), " ")  # function application, times, ...


def visible(text: str) -> tuple[str, list[int]]:
    """The text without invisible characters (a zero-width space cannot hide a false claim from the checks), and
    for each of its offsets (and its end) the offset in the original text."""
    if not any(ord(c) in INVISIBLE or ord(c) in INVISIBLE_OPERATORS for c in text):
        return text, []
    out, where = [], []
    for i, c in enumerate(text):
        o = ord(c)
        if o in INVISIBLE:
            continue
        out.append(INVISIBLE_OPERATORS.get(o, c))
        where.append(i)
    where.append(len(text))
    return "".join(out), where


def extract_claims(text: str, following: str = "", limit: int | None = None,
                   deadline: float | None = None, moduli: tuple[str, ...] = ()) -> list[Claim]:
    """The relation claims made in one step's text, in order of appearance. `following` is the text after the
    step (its next paragraph may say the step's claim is absurd). With `limit` claims read, or past `deadline`
    (time.monotonic()), reading stops and the last item is a `rest_of_step` placeholder for what was left.
    `moduli` are the numeric moduli stated in earlier steps; each claim gets those and the ones stated before it in
    this step."""
    original = text
    text, where = visible(text)
    following = visible(following[:400])[0]
    claims: list[Claim] = []
    room = limit if limit is not None else 10**9

    def spent() -> bool:
        return len(claims) >= room or (deadline is not None and time.monotonic() > deadline)

    stated = stated_moduli(text)
    spans = math_spans(text)
    stopped = False
    for k, (start, end, b0, b1) in enumerate(spans):
        if spent():
            claims.append(Claim.rest_of_step(text, start, len(spans) - k))
            stopped = True
            break
        claims.extend(_formula_claims(text[b0:b1], start, end, _context(text, start, end, following),
                                      room - len(claims)))
    # plain-text formulas outside math delimiters
    plain = list(text)
    for a, b, _, _ in spans:
        plain[a:b] = [" "] * (b - a)
    plain_text = "".join(plain)
    for m in [] if stopped else _plain_formulas(plain_text):
        f = m.group(0)
        if re.match(r"[+\-*/^·×−=<>]", plain_text[m.end():m.end() + 1]) or _cut_after(plain_text, m.end()):
            continue  # the formula goes on in a form we cannot read; do not judge a piece of it
        if not re.search(r"[\d]", f) or re.search(r"[A-Za-z]{2,}", re.sub(r"\bmod\b", "", f)):
            continue  # prose, not a formula
        if spent():
            claims.append(Claim.rest_of_step(text, m.start(), 1))
            break
        claims.extend(_formula_claims(f, m.start(), m.end(), _context(text, m.start(), m.end(), following),
                                      room - len(claims)))
    for c in claims:
        c.moduli = tuple(dict.fromkeys(list(moduli) + [mod for at, mod in stated if at < c.start]))
    return _back(claims, where, original)


def _back(claims: list[Claim], where: list[int], original: str) -> list[Claim]:
    """Offsets in the text with its invisible characters, where the claims are quoted from."""
    if where:
        for c in claims:
            c.start = where[min(c.start, len(where) - 1)]
            c.end = where[c.end] if c.end < len(where) else len(original)
    return claims
