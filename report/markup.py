"""Model text to safe HTML: Markdown (markdown-it-py, raw HTML off) with math as MathML (latex2mathml), server-side.

Everything in a proof is untrusted. Markdown runs with HTML disabled, images off and a link validator that lets
through only http(s), mailto and in-page links, so `<script>`, `<img onerror=...>` and `javascript:` links come
out as text. Math is cut out of the text before Markdown sees it (Markdown would eat its backslashes and
underscores) and put back as MathML; the MathML is re-built from a parse with only MathML elements and attributes
allowed, since the converter copies \\text{...} verbatim. A formula that cannot be converted is shown as its
escaped source, marked `tex-fail`, and counted.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from latex2mathml.converter import convert
from markdown_it import MarkdownIt

from report import latex_text

# $$..$$, \[..\], \(..\), display environments, then $..$ (not \$, not empty, not across a blank line)
MATH = re.compile(
    r"\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<br>.+?)\\\]"
    r"|\\\((?P<pa>.+?)\\\)"
    r"|(?P<env>\\begin\{(?P<envname>equation|align|alignat|gather|multline|eqnarray|displaymath)(?P<star>\*?)\}"
    r".+?\\end\{(?P=envname)(?P=star)\})"
    r"|(?<![\\$])\$(?P<d>(?:\\\$|[^$])+?)(?<![\\\s])\$",
    re.DOTALL)
PLACEHOLDER = "\u2063MATH{}\u2063"  # invisible separator: survives Markdown untouched, never typed by a model
PLACEHOLDER_RE = re.compile("\u2063MATH(\\d+)\u2063")
MAX_FORMULA = 5000

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
    md.validateLink = _valid_link
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
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # the first few sources that failed, for reports

    @property
    def total(self) -> int:
        return self.converted + self.failed

    def to_dict(self) -> dict:
        return {"formulas": self.total, "converted": self.converted, "unconverted": self.failed,
                "unconverted_share": self.failed / self.total if self.total else 0.0}


class Renderer:
    """Renders many texts with one Markdown parser, counting formulas over all of them."""

    def __init__(self):
        self.md = _markdown()
        self.stats = MathStats()
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
        before = (self.stats.converted, self.stats.failed)
        html_ = self._markdown(text)
        self._texts[text] = (html_, self.stats.converted - before[0], self.stats.failed - before[1])
        return html_

    def _markdown(self, text: str) -> str:
        formulas: list[tuple[str, bool]] = []

        def cut(m: re.Match) -> str:
            if m.group("env"):
                tex, display = m.group("env"), True
            elif m.group("dd") is not None or m.group("br") is not None:
                tex, display = m.group("dd") if m.group("dd") is not None else m.group("br"), True
            else:
                tex, display = m.group("pa") if m.group("pa") is not None else m.group("d"), False
            formulas.append((tex, display))
            return PLACEHOLDER.format(len(formulas) - 1)

        body = self.md.render(latex_text.to_markdown(MATH.sub(cut, text.replace("\u2063", ""))))

        def put(m: re.Match) -> str:
            i = int(m.group(1))
            return self.formula(*formulas[i]) if i < len(formulas) else ""

        return PLACEHOLDER_RE.sub(put, body)

    def plain(self, text: str) -> str:
        return html.escape(text)
