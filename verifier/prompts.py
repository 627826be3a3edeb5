"""Prompt templates: Markdown files with {{name}} slots, overridable by a user's directory (--prompts DIR).

Each package keeps its own templates in its `prompts/` folder (the verifier's: verify, meta_verify, grade_points);
a job adds its folder with `Templates.extended`. Slots are filled in one pass over the template, so a proof that
itself contains "{{proof}}" or LaTeX braces is inserted verbatim and never re-expanded.
"""
from __future__ import annotations

import re
from pathlib import Path

from model.backends.backend import Request, Sampling
from verifier.errors import VerifierError

SLOT = re.compile(r"\{\{(\w+)\}\}")
PROMPTS = Path(__file__).parent / "prompts"  # the verifier's own templates


class Templates:
    """Finds `<name>.md` in the user's directory first, then in the built-in folders in order."""

    def __init__(self, override_dir: str | Path | None = None, builtin_dirs: tuple[Path, ...] = (PROMPTS,)):
        self.override_dir = Path(override_dir) if override_dir else None
        if self.override_dir and not self.override_dir.is_dir():
            raise VerifierError(f"--prompts {self.override_dir}: not a directory; give a directory of .md templates")
        self.builtin_dirs = tuple(builtin_dirs)
        self._cache: dict[str, str] = {}

    def extended(self, directory: Path) -> Templates:
        """These templates plus a package's own folder of built-in ones (the user's directory still comes first)."""
        if directory in self.builtin_dirs:
            return self
        return Templates(self.override_dir, (*self.builtin_dirs, directory))

    def builtin_names(self) -> list[str]:
        return sorted({p.stem for d in self.builtin_dirs for p in d.glob("*.md")})

    def path(self, name: str) -> Path:
        if self.override_dir and (self.override_dir / f"{name}.md").is_file():
            return self.override_dir / f"{name}.md"
        for builtin in self.builtin_dirs:
            if (builtin / f"{name}.md").is_file():
                return builtin / f"{name}.md"
        raise VerifierError(f"no prompt template named {name!r}; expected {name}.md")

    def is_builtin(self, name: str) -> bool:
        """Whether `name` comes from a package's own folder, not from the user's directory."""
        return self.path(name).parent in self.builtin_dirs

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

    def request(self, name: str, sampling: Sampling, **values: str) -> Request:
        """One user message: the template filled with `values`."""
        return Request(messages=({"role": "user", "content": self.render(name, **values)},), sampling=sampling)

    def fingerprint(self) -> dict[str, str]:
        """Template texts by name, for recording in a run's config (a changed prompt is a different run)."""
        out = {}
        for name in self.builtin_names():
            try:
                out[name] = self.text(name)
            except VerifierError:
                pass
        return out
