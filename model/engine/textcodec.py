"""Text <-> token ids for the engine, from the checkpoint's tokenizer.json, with incremental decoding for streaming.

Incremental decoding: a token may end in the middle of a character (byte-level BPE), so the text of the new tokens
is taken as decode(window + new) minus decode(window), and held back while it ends in U+FFFD (an incomplete
character).
"""
from __future__ import annotations

from pathlib import Path

from model.engine.sequence import Sequence
from model.errors import ModelError


class TextCodec:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def from_checkpoint(cls, path: Path) -> "TextCodec | None":
        file = path / "tokenizer.json"
        if not file.exists():
            return None
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_file(str(file)))
        except Exception as e:  # tokenizers raises its own exception type
            raise ModelError(f"{file}: not a readable tokenizer ({e})") from e

    def encode(self, text: str, special: bool = True) -> list[int]:
        """special: let the tokenizer add its own special tokens (BOS); off for text rendered by a chat template."""
        return self.tokenizer.encode(text, add_special_tokens=special).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    def delta(self, seq: Sequence) -> str:
        """The text added by the sequence's newest token(s) (possibly ''), advancing its offsets."""
        before = self.decode(seq.tokens[seq.prefix_offset:seq.read_offset])
        after = self.decode(seq.tokens[seq.prefix_offset:])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        seq.prefix_offset, seq.read_offset = seq.read_offset, len(seq.tokens)
        return after[len(before):]
