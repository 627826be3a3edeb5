"""Reading a proof someone hands us as a file."""
from __future__ import annotations

from pathlib import Path

from verifier.errors import VerifierError


def read_proof(path: Path) -> str:
    if not path.is_file():
        raise VerifierError(f"proof file {path} not found; give the path of a text or Markdown file")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise VerifierError(f"proof file {path} is binary; give a text or Markdown file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VerifierError(f"proof file {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    if not text.strip():
        raise VerifierError(f"proof file {path} is empty; write the proof in it first")
    return text
