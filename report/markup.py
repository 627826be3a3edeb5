"""Model text to safe HTML: Markdown (markdown-it-py, raw HTML off) with math as MathML (latex2mathml), server-side.

Everything in a proof is untrusted. Markdown runs with HTML disabled, images off and a link validator that lets
through only http(s), mailto and in-page links, so `<script>`, `<img onerror=...>` and `javascript:` links come
out as text. Math is cut out of the text before Markdown sees it (Markdown would eat its backslashes and
underscores) and put back as MathML; the MathML is re-built from a parse with only MathML elements and attributes
allowed, since the converter copies \\text{...} verbatim. A formula that cannot be converted is shown as its
escaped source, marked `tex-fail`, and counted.
"""
from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass, field

from latex2mathml.converter import convert
from markdown_it import MarkdownIt

from report import latex_text

# Math delimiters: $$..$$, \[..\], \(..\), display environments, then $..$ (not \$, not empty, not ending in a
# space). Found by `find_math`, a left-to-right scan that is linear in the text: a regex with lazy `.+?` rescans
# to the end of the text from every unclosed opener, which is quadratic (40 KB of `\[` took 24 s).
OPENER = re.compile(r"\$|\\\[|\\\(|\\begin\{(equation|align|alignat|gather|multline|eqnarray|displaymath)(\*?)\}")
PLACEHOLDER = "\u2063MATH{}\u2063"  # invisible separator: survives Markdown untouched, never typed by a model
PLACEHOLDER_RE = re.compile("\u2063MATH(\\d+)\u2063")
MAX_FORMULA = 5000
# The work one report may spend on Markdown and MathML, in units (below) that cost about 0.4-0.9 us each (measured
# on a shared 2-core box: the 84-proof grade report of tests/report needs 25 million units, the 64-candidate prove
# report 16 million; hostile text is at most ~1 us a unit). Past it, texts are shown as escaped plain text and
# formulas as their source, so a report of any size is written in bounded time (a 1 MB hostile proof: <= ~8 s
# there). Unique texts and formulas only: repeats are served from the caches and cost nothing.
WORK_BUDGET = 28_000_000
# Weights measured on hostile text (tests/report): each of these makes markdown-it try its rules, and a line or a
# LaTeX list item costs more again; what is left costs about a unit a character or less.
MARKDOWN_WEIGHTS = {"[": 70, "]": 70, "*": 50, "_": 35, "`": 25, "~": 35, "!": 40, "<": 10, ">": 10, "&": 25,
                    "|": 10, "#": 10, "\\": 5, "\n": 60, "\\item": 150, "\\begin": 150}


def markdown_cost(text: str) -> int:
    return len(text) + sum(w * text.count(c) for c, w in MARKDOWN_WEIGHTS.items())


def formula_cost(tex: str) -> int:
    return 50 * len(tex) + 400  # latex2mathml: up to ~40 us a character, ~0.5 ms a typical formula

MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot",
    "mstyle", "merror", "mpadded", "mphantom", "mfenced", "menclose", "mtable", "mtr", "mtd", "mlabeledtr",
    "munder", "mover", "munderover", "mmultiscripts", "mprescripts", "none", "semantics", "annotation",
}
MATHML_ATTRS = {
    "xmlns", "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "width", "height",
    "depth", "linethickness", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines",
    "frame", "notation", "accent", "accentunder", "movablelimits", "minsize", "maxsize", "symmetric", "form",
    "largeop", "scriptlevel", "displaystyle", "open", "close", "separators", "align", "encoding", "style",
    "linebreak", "columnwidth", "rowspan", "columnspan", "equalrows", "equalcolumns", "side", "minlabelspacing",
    "voffset",
}
SAFE_STYLE = re.compile(r"^[\w\s:;.%#-]*$")


class _Closers:
    """`text.find(needle, start)` with memory: the first occurrence at or after a start is remembered, so later
    searches from further on reuse it, and a needle with no occurrence left is never searched for again."""

    def __init__(self, text: str):
        self.text = text
        self.seen: dict[str, tuple[int, int]] = {}  # needle -> (searched from, found at or -1)

    def find(self, needle: str, start: int) -> int:
        hit = self.seen.get(needle)
        if hit is not None and hit[0] <= start and (hit[1] == -1 or hit[1] >= start):
            return hit[1]
        found = self.text.find(needle, start)
        self.seen[needle] = (start, found)
        return found


def find_math(text: str) -> list[tuple[int, int, str, bool]]:
    """Formulas in `text` as (start, end, tex, display), in order, not overlapping. Linear in len(text)."""
    closers = _Closers(text)
    # Unescaped single dollars (not preceded by a backslash), for $..$: the closer is the first one after the opener.
    dollars = [i for i in range(len(text)) if text[i] == "$" and (i == 0 or text[i - 1] != "\\")] \
        if "$" in text else []
    out: list[tuple[int, int, str, bool]] = []
    pos = 0
    while True:
        m = OPENER.search(text, pos)
        if m is None:
            return out
        i = m.start()
        pos = i + 1
        if m.group(1):  # \begin{env}: its own \end{env}, at least one character later
            close = f"\\end{{{m.group(1)}{m.group(2)}}}"
            j = closers.find(close, m.end() + 1)
            if j >= 0:
                out.append((i, j + len(close), text[i:j + len(close)], True))
                pos = j + len(close)
            continue
        if text[i] == "\\":  # \[ .. \] or \( .. \)
            close = "\\]" if text[i + 1] == "[" else "\\)"
            j = closers.find(close, i + 3)
            if j >= 0:
                out.append((i, j + 2, text[i + 2:j], text[i + 1] == "["))
                pos = j + 2
            continue
        if text.startswith("$$", i):
            j = closers.find("$$", i + 3)
            if j >= 0:
                out.append((i, j + 2, text[i + 2:j], True))
                pos = j + 2
                continue
        if (i > 0 and text[i - 1] in "\\$") or text.startswith("$", i + 1):
            continue
        k = bisect.bisect_left(dollars, i + 2)
        if k < len(dollars) and not text[dollars[k] - 1].isspace():
            j = dollars[k]
            out.append((i, j + 1, text[i + 1:j], False))
            pos = j + 1


class _Unsafe(Exception):
    pass


TAG = re.compile(r"<(/?)([a-z]+)((?:\s+[a-z:-]+=\"[^\"<>]*\")*)\s*(/?)>")
ATTR = re.compile(r'([a-z:-]+)="([^"<>]*)"')


def clean_mathml(markup: str) -> str:
    """The converter's MathML, checked: every tag a MathML element with allowed attributes, no other markup
    (the converter copies \\text{...} verbatim, so a `<script>` there would otherwise pass). Raises _Unsafe."""
    pos = 0
    for m in TAG.finditer(markup):
        if "<" in markup[pos:m.start()] or ">" in markup[pos:m.start()]:
            raise _Unsafe("markup in text")
        if m.group(2) not in MATHML_TAGS:
            raise _Unsafe(m.group(2))
        for name, value in ATTR.findall(m.group(3)):
            if name not in MATHML_ATTRS or (name == "style" and not SAFE_STYLE.match(value)):
                raise _Unsafe(name)
        pos = m.end()
    if "<" in markup[pos:] or ">" in markup[pos:]:
        raise _Unsafe("markup in text")
    return markup


def _valid_link(url: str) -> bool:
    u = url.strip().lower()
    return u.startswith(("http://", "https://", "mailto:", "#"))


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    md.disable("image")  # no remote fetches from a report; an image in a proof shows as its Markdown text
    md.validateLink = _valid_link  # type: ignore[method-assign]  # markdown-it-py's hook: replace it per instance
    return md


# Macros that models use and the converter lacks, rewritten to ones it has.
REWRITES = [
    (re.compile(r"\\\\\s*\[\s*-?[\d.]+\s*(?:pt|mm|cm|em|ex|in|bp|mu)\s*\]"), r"\\\\"),  # \\[4pt] -> \\
    (re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|nonumber|notag|limits|nolimits|allowbreak|"
                r"left\.|right\.|label\{[^}]*\}|tag\*?\{[^}]*\})"), " "),
    (re.compile(r"\\(?:dfrac|tfrac)"), r"\\frac"),
    (re.compile(r"\\(?:bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])"), ""),
    (re.compile(r"\\(?:lvert|rvert)"), "|"),
    (re.compile(r"\\(?:lVert|rVert)"), r"\\|"),
    (re.compile(r"\\(?:textbf|textit|textrm|mathrm|emph)\b"), r"\\text"),
    (re.compile(r"\\operatorname\*"), r"\\operatorname"),
    (re.compile(r"\\(?:qedhere|hfill|medskip|smallskip|bigskip|noindent)\b"), " "),
    (re.compile(r"\\(?:dots[bcmio]|dotsc)\b"), r"\\dots"),
    (re.compile(r"\\begin\{(align|alignat|gather|multline|eqnarray|equation)\*?\}"), r"\\begin{aligned}"),
    (re.compile(r"\\end\{(align|alignat|gather|multline|eqnarray|equation)\*?\}"), r"\\end{aligned}"),
]


def _prepare(tex: str) -> str:
    for pattern, repl in REWRITES:
        tex = pattern.sub(repl, tex)
    return tex


@dataclass
class MathStats:
    converted: int = 0
    failed: int = 0  # not converted: the converter failed, or the budget was spent (then also over_budget)
    over_budget: int = 0
    plain_texts: int = 0  # texts shown as plain text because the budget was spent
    failures: list[str] = field(default_factory=list)  # the first few sources that failed, for reports

    @property
    def total(self) -> int:
        return self.converted + self.failed

    def to_dict(self) -> dict:
        return {"formulas": self.total, "converted": self.converted, "unconverted": self.failed,
                "unconverted_share": self.failed / self.total if self.total else 0.0,
                "over_budget": self.over_budget, "plain_texts": self.plain_texts}


class Renderer:
    """Renders many texts with one Markdown parser, counting formulas over all of them."""

    def __init__(self, budget: int = WORK_BUDGET):
        self.md = _markdown()
        self.stats = MathStats()
        self.budget = budget  # work left (see WORK_BUDGET)
        self._cache: dict[tuple[str, bool], str] = {}
        self._texts: dict[str, tuple[str, int, int]] = {}

    def formula(self, tex: str, display: bool) -> str:
        key = (tex, display)
        if key in self._cache:
            out = self._cache[key]
            if "tex-fail" in out[:40]:
                self.stats.failed += 1
            else:
                self.stats.converted += 1
            return out
        cost = formula_cost(tex)
        if cost > self.budget:
            self.stats.failed += 1
            self.stats.over_budget += 1
            delim = ("\\[", "\\]") if display else ("\\(", "\\)")
            return (f'<code class="tex-fail{" tex-block" if display else ""}" title="formula not converted: this '
                    f'report spent its rendering budget">{html.escape(delim[0] + tex + delim[1])}</code>')
        self.budget -= cost
        try:
            if len(tex) > MAX_FORMULA or not tex.strip():
                raise ValueError("empty or too long")
            out = clean_mathml(convert(_prepare(tex), display="block" if display else "inline"))
            self.stats.converted += 1
        except Exception:  # the converter raises many kinds on bad input; any of them means: show the source
            self.stats.failed += 1
            if len(self.stats.failures) < 50:
                self.stats.failures.append(tex)
            delim = ("\\[", "\\]") if display else ("\\(", "\\)")
            out = (f'<code class="tex-fail{" tex-block" if display else ""}" title="formula not converted">'
                   f"{html.escape(delim[0] + tex + delim[1])}</code>")
        self._cache[key] = out
        return out

    def markdown(self, text: str) -> str:
        """Markdown with math, as safe HTML (a text seen before is served from a cache, and counted again)."""
        hit = self._texts.get(text)
        if hit is not None:
            html_, converted, failed = hit
            self.stats.converted += converted
            self.stats.failed += failed
            return html_
        cost = markdown_cost(text)
        if cost > self.budget:
            self.stats.plain_texts += 1
            return (f'<pre class="plain-text" title="shown as plain text: this report spent its rendering budget">'
                    f"{html.escape(text)}</pre>")
        self.budget -= cost
        before = (self.stats.converted, self.stats.failed)
        html_ = self._markdown(text)
        self._texts[text] = (html_, self.stats.converted - before[0], self.stats.failed - before[1])
        return html_

    def _markdown(self, text: str) -> str:
        text = text.replace("\u2063", "")
        formulas: list[tuple[str, bool]] = []
        parts, pos = [], 0
        for start, end, tex, display in find_math(text):
            parts.append(text[pos:start])
            parts.append(PLACEHOLDER.format(len(formulas)))
            formulas.append((tex, display))
            pos = end
        parts.append(text[pos:])
        body = self.md.render(latex_text.to_markdown("".join(parts)))

        def put(m: re.Match) -> str:
            i = int(m.group(1))
            return self.formula(*formulas[i]) if i < len(formulas) else ""

        return PLACEHOLDER_RE.sub(put, body)

    def plain(self, text: str) -> str:
        return html.escape(text)
