"""Reading a proof someone hands us as a file."""
from __future__ import annotations

from pathlib import Path

from problems.textfile import read_text_file
from verifier.errors import VerifierError

MAX_PROOF_BYTES = 1 << 20  # 1 MiB: far above any real proof; larger files are refused before they are read


def read_proof(path: Path) -> str:
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_PROOF_BYTES:
        size = path.stat().st_size / (1 << 20)
        raise VerifierError(f"proof file {path} is {size:.1f} MiB, over the 1 MiB limit; give the proof alone "
                            "(trim the model's output, or split it into one file per proof)")
    return read_text_file(path, "proof file", "a text or Markdown file holding the proof", error=VerifierError,
                          empty_hint="write the proof in it first")
