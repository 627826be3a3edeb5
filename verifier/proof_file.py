"""Reading a proof someone hands us as a file."""
from __future__ import annotations

from pathlib import Path

from problems.textfile import read_text_file
from verifier.errors import VerifierError


def read_proof(path: Path) -> str:
    return read_text_file(path, "proof file", "a text or Markdown file holding the proof", error=VerifierError,
                          empty_hint="write the proof in it first")
