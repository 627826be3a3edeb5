"""Prompt templates: Markdown files with {{name}} slots, overridable by a user's directory (--prompts DIR).

Slots are filled in one pass over the template, so a proof that itself contains "{{proof}}" or LaTeX braces is
inserted verbatim and never re-expanded.
"""
from __future__ import annotations

import re
from pathlib import Path

from verifier.errors import VerifierError

SLOT = re.compile(r"\{\{(\w+)\}\}")
BUILTIN_DIRS = {
    "generate": Path(__file__).parent.parent / "prover" / "prompts",
    "refine": Path(__file__).parent.parent / "prover" / "prompts",
    "verify": Path(__file__).parent / "prompts",
    "meta_verify": Path(__file__).parent / "prompts",
    "grade_points": Path(__file__).parent / "prompts",
}


class Templates:
    """Finds `<name>.md` in the user's directory first, then among the built-in templates."""

    def __init__(self, override_dir: str | Path | None = None):
        self.override_dir = Path(override_dir) if override_dir else None
        if self.override_dir and not self.override_dir.is_dir():
            raise VerifierError(f"--prompts {self.override_dir}: not a directory; give a directory of .md templates")
        self._cache: dict[str, str] = {}

    def path(self, name: str) -> Path:
        if self.override_dir and (self.override_dir / f"{name}.md").is_file():
            return self.override_dir / f"{name}.md"
        builtin = BUILTIN_DIRS.get(name)
        if builtin is None or not (builtin / f"{name}.md").is_file():
            raise VerifierError(f"no prompt template named {name!r}; expected {name}.md")
        return builtin / f"{name}.md"

    def text(self, name: str) -> str:
        if name not in self._cache:
            self._cache[name] = self.path(name).read_text(encoding="utf-8")
        return self._cache[name]

    def render(self, name: str, **values: str) -> str:
        template = self.text(name)

        def fill(m: re.Match) -> str:
            key = m.group(1)
            if key not in values:
                raise VerifierError(f"prompt template {self.path(name)} uses {{{{{key}}}}}, which is not provided; "
                                    f"available: {', '.join(sorted(values))}")
            return values[key]

        return SLOT.sub(fill, template)

    def fingerprint(self) -> dict[str, str]:
        """Template texts by name, for recording in a run's config (a changed prompt is a different run)."""
        out = {}
        for name in BUILTIN_DIRS:
            try:
                out[name] = self.text(name)
            except VerifierError:
                pass
        return out
