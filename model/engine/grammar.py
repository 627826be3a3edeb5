"""Grammar-constrained decoding (structured outputs) with xgrammar, the library vLLM and SGLang use.

Why xgrammar: it compiles GBNF / JSON schema against the tokenizer once and then yields each step's allowed-token
bitmask in about 10 microseconds on the demo model's 49K vocabulary (measured: median 0.01 ms, max 0.1 ms a token),
far below a decode step. A request's grammar is compiled once per text (cached) and followed by its own matcher,
advanced only by the tokens the sequence keeps; a preempted sequence keeps its tokens, so its matcher stays right.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch

from model.errors import ModelError

MAX_CACHED = 32  # compiled grammars kept (per engine)
MAX_GRAMMAR_CHARS = 1 << 20


class GrammarBook:
    """Compiles grammars for one engine's tokenizer and vocabulary; matchers for its sequences."""

    def __init__(self, hf_tokenizer_backend: Any, vocab_size: int, stop_token_ids: list[int]):
        self._backend, self._vocab, self._stops = hf_tokenizer_backend, vocab_size, stop_token_ids
        self._compiler: Any = None
        self._compiled: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def _get_compiler(self) -> Any:
        if self._compiler is None:
            import xgrammar as xgr
            from transformers import PreTrainedTokenizerFast

            tok = PreTrainedTokenizerFast(tokenizer_object=self._backend)
            info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=self._vocab, stop_token_ids=self._stops)
            self._compiler = xgr.GrammarCompiler(info)
        return self._compiler

    def matcher(self, grammar: str, json_schema: str) -> Any:
        """A fresh matcher for a GBNF grammar (or, without one, a JSON schema); ModelError if it cannot compile."""
        import xgrammar as xgr

        key = (grammar, "" if grammar else json_schema)
        if len(key[0]) + len(key[1]) > MAX_GRAMMAR_CHARS:
            raise ModelError(f"the grammar is {len(key[0]) + len(key[1])} characters; the most is {MAX_GRAMMAR_CHARS}")
        compiled = self._compiled.get(key)
        if compiled is None:
            compiler = self._get_compiler()
            try:
                compiled = compiler.compile_grammar(grammar) if grammar else compiler.compile_json_schema(json_schema)
            except Exception as e:  # xgrammar raises RuntimeError / ValueError with the parse position
                kind = "grammar" if grammar else "JSON schema"
                raise ModelError(f"the {kind} does not compile: {' '.join(str(e).split())[:300]}") from e
            self._compiled[key] = compiled
            if len(self._compiled) > MAX_CACHED:
                self._compiled.popitem(last=False)
        self._compiled.move_to_end(key)
        return xgr.GrammarMatcher(compiled)

    def mask(self, logits: torch.Tensor, matchers: list[Any], rows: list[int]) -> None:
        """Set logits[rows[j]] to -inf for every token matchers[j] does not allow next, in place: one bitmask and
        one masking pass for the whole batch."""
        import xgrammar as xgr

        if not rows:
            return
        bitmask = xgr.allocate_token_bitmask(len(logits), self._vocab)
        for row, matcher in zip(rows, matchers):
            matcher.fill_next_token_bitmask(bitmask, row)
        view = logits.view(len(logits), -1)
        xgr.apply_token_bitmask_inplace(view, bitmask.to(view.device), vocab_size=self._vocab, indices=rows)


def literal_grammar(text: str) -> str:
    """A GBNF grammar that accepts exactly `text`."""
    escaped = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                      if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in text)
    return f'root ::= "{escaped}"\n'
