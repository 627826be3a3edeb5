"""Finding the checkable claims in a step: equalities and chains, inequalities, congruences, computed values.

A claim is one link `lhs REL rhs` of a relation chain found in the step's math (inline `$..$`, `\\(..\\)`, display
`\\[..\\]`, `$$..$$`, aligned environments) or in plain-text formulas (`a*b = c`, `n mod 9 = 3`). Only text is
produced here; verifier.symbolic parses and judges it.
"""
from __future__ import annotations

import re
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
_MATH = re.compile(
    r"\$\$(?P<a>.+?)\$\$|\\\[(?P<b>.+?)\\\]|\\\((?P<c>.+?)\\\)|(?<![\\$])\$(?P<d>[^$]+?)\$"
    r"|\\begin\{(?P<env>equation|align|aligned|gather|gathered|eqnarray|multline)\*?\}(?P<e>.+?)\\end\{(?P=env)\*?\}",
    re.DOTALL,
)
_SKIP_ENVS = re.compile(r"\\begin\{(?:cases|array|matrix|pmatrix|bmatrix|vmatrix|tabular|dcases)")
_ATOM = r"[-−]?[\w()!.]+"
_OPERAND = _ATOM + r"(?:\s*(?:[+\-*/^·×−]|\bmod\b)\s*" + _ATOM + r")*"
_PLAIN = re.compile(r"(?<![\w\\+\-*/^.!·×−=<>≤≥≡])" + _OPERAND + r"(?:\s*[=<>≤≥≡]\s*" + _OPERAND + r")+(?:\s*\(mod\s+\w+\))?")
_STRIP = re.compile(r"\\(?:tag|label|eqref|ref)\{[^{}]*\}|\\(?:nonumber|notag)(?![a-zA-Z])")


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

    @property
    def text(self) -> str:
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
            if m and not (c == "<" and formula[i - 5:i] == "\\left") and not formula[i - 1:i] in (":",):
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


def _formula_claims(formula: str, offset: int, span_end: int, context: str) -> list[Claim]:
    formula = _STRIP.sub(" ", formula)
    formula = re.sub(r"\\[,;:! ]", " ", formula).replace("{,}", "")
    if re.search(r"\d,\d{3}(?!\d)", formula):
        return []  # 1,000 is a number to a reader and two numbers to a parser: leave it
    if _SKIP_ENVS.search(formula):
        return []
    formula = re.sub(r"\\(?:begin|end)\{(?:aligned|align\*?|gathered|split|equation\*?)\}", " ", formula)
    for pat, rep in _MOD_PATTERNS:
        formula = pat.sub(rep, formula)
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
    return claims


_NEW_ITEM = re.compile(r"\n[ \t]*(?:\||[-*+•][ \t]|\d{1,3}[.)][ \t]|\(\w{1,4}\)[ \t])")


def _context(text: str, start: int, end: int) -> str:
    """The sentence around a formula and the sentence after it (where "a contradiction" usually comes); a table
    row or list item is its own context."""
    before = text[max(0, start - 250):start]
    cut = max(before.rfind(". "), before.rfind(".\n"), before.rfind("\n\n"))
    items = list(_NEW_ITEM.finditer(before))
    if items:
        cut = max(cut, items[-1].start())
    before = before[cut + 1:] if cut >= 0 else before
    after = text[end:end + 200]
    stops = [i for i in (after.find("\n\n"),) if i >= 0]
    m = _NEW_ITEM.search(after)
    if m:
        stops.append(m.start())
    if stops:
        after = after[:min(stops)]
    ends = [m.end() for m in re.finditer(r"[.!?](?:\s|$)", after)]
    if len(ends) >= 2:
        after = after[:ends[1]]
    return before + " " + after


def extract_claims(text: str) -> list[Claim]:
    """The relation claims made in one step's text, in order of appearance."""
    claims: list[Claim] = []
    covered: list[tuple[int, int]] = []
    for m in _MATH.finditer(text):
        name = next(g for g in ("a", "b", "c", "d", "e") if m.group(g) is not None)
        covered.append((m.start(), m.end()))
        if name == "e" and m.group("env"):
            body = m.group("e")
        else:
            body = m.group(name)
        claims.extend(_formula_claims(body, m.start(), m.end(), _context(text, m.start(), m.end())))
    # plain-text formulas outside math delimiters
    plain = list(text)
    for a, b in covered:
        plain[a:b] = [" "] * (b - a)
    plain_text = "".join(plain)
    for m in _PLAIN.finditer(plain_text):
        f = m.group(0)
        if re.match(r"[+\-*/^·×−=<>]", plain_text[m.end():m.end() + 1]):
            continue  # the formula goes on in a form we cannot read; do not judge a piece of it
        if not re.search(r"[\d]", f) or re.search(r"[A-Za-z]{2,}", re.sub(r"\bmod\b", "", f)):
            continue  # prose, not a formula
        claims.extend(_formula_claims(f, m.start(), m.end(), _context(text, m.start(), m.end())))
    return claims
