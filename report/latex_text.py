"""Text-mode LaTeX (outside math) as Markdown, so statements and proofs written in LaTeX read as prose in reports.

Problem statements and model proofs use `\\begin{itemize} \\item ...`, `\\emph{...}`, `\\textbf{...}` between their
formulas; Markdown would show those as source. Runs after the formulas are cut out (model text inside math is left
to the math converter) and before Markdown, whose escaping still applies to everything produced here.
"""
from __future__ import annotations

import re

LISTS = re.compile(r"\\(begin|end)\{(itemize|enumerate|description)\}|\\item(?:\[(?P<label>[^\]\n]*)\])?[ \t]*")
MAX_DEPTH = 6  # deeper lists are drawn at this depth: hostile nesting must not make indents (and output) quadratic
INLINE = [
    (re.compile(r"\\(?:emph|textit|textsl)\{([^{}\n]*)\}"), r"*\1*"),
    (re.compile(r"\\textbf\{([^{}\n]*)\}"), r"**\1**"),
    (re.compile(r"\\texttt\{([^{}\n]*)\}"), r"`\1`"),
    (re.compile(r"\\underline\{([^{}\n]*)\}"), r"\1"),
    (re.compile(r"\\(?:sub)*section\*?\{([^{}\n]*)\}"), r"\n\n**\1**\n\n"),
    (re.compile(r"\\paragraph\*?\{([^{}\n]*)\}"), r"\n\n**\1** "),
    (re.compile(r"\\(?:qed|qedhere|noindent|medskip|smallskip|bigskip|hfill)(?![a-zA-Z])"), ""),
]


def _lists(text: str) -> str:
    out, open_lists, pos = [], [], 0
    for m in LISTS.finditer(text):
        out.append(text[pos:m.start()])
        pos = m.end()
        if m.group(1) == "begin":
            open_lists.append(m.group(2))
            out.append("\n\n")
        elif m.group(1) == "end":
            if open_lists:
                open_lists.pop()
            out.append("\n\n")
        else:  # an \item: a Markdown list line, indented under the enclosing items
            kind = open_lists[-1] if open_lists else "itemize"
            indent = "    " * min(max(len(open_lists) - 1, 0), MAX_DEPTH)
            label = m.group("label")
            out.append(f"\n{indent}{'1.' if kind == 'enumerate' else '-'} " + (f"**{label}** " if label else ""))
    out.append(text[pos:])
    return "".join(out)


def to_markdown(text: str) -> str:
    if "\\" not in text:
        return text
    text = _lists(text)
    for _ in range(3):  # nested styles, innermost first: \textbf{a \emph{b}}
        for pattern, repl in INLINE:
            text = pattern.sub(repl, text)
    return text
