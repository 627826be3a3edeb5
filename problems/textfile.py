"""Reading a text file a user hands us (a problem, a proof, a grading set), with one clear error per way it can fail."""
from __future__ import annotations

from pathlib import Path

from problems.errors import ProblemError


def read_text_file(path: Path, what: str, expected: str, *, error: type[Exception] = ProblemError,
                   missing_hint: str = "check the path", empty_hint: str | None = None) -> str:
    """The file's text (UTF-8, CRLF normalised). `what` names the file in messages ("problem file"), `expected`
    says what to give instead ("a text file (.md, .json, .jsonl or .csv)"); failures raise `error`."""
    if not path.exists():
        raise error(f"{what} not found: {path}; {missing_hint}")
    if path.is_dir():
        raise error(f"{path} is a directory; give {expected}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}; check its permissions") from None
    if not data.strip():
        raise error(f"{what} is empty: {path}; {empty_hint or 'give ' + expected}")
    if b"\x00" in data[:8192]:
        raise error(f"{path} is a binary file, not a {what}; give {expected}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{path} is not UTF-8 text (bad byte at offset {e.start}); save it as UTF-8") from None
    return text.replace("\r\n", "\n")
