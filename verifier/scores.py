"""Reading the boxed score at the end of a model's answer."""
from __future__ import annotations

import re

BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def boxed_values(text: str) -> list[str]:
    """Contents of every \\boxed{...} in text, in order, with nested braces matched."""
    out = []
    for m in BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:
            out.append(text[m.end():i - 1].strip())
    return out


_HALF = {"1/2", "\\frac{1}{2}", "\\frac12", "\\tfrac{1}{2}", "\\dfrac{1}{2}", "0.5", ".5", "0.50"}


def parse_score(value: str, allowed=(0.0, 0.5, 1.0)) -> float | None:
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


def last_score(text: str, allowed=(0.0, 0.5, 1.0)) -> float | None:
    """The last boxed value of the text, as a score; None when there is none or it is not an allowed value."""
    values = boxed_values(text)
    return parse_score(values[-1], allowed) if values else None
