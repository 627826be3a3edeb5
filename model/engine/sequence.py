"""One request inside the engine: its tokens, its sampling settings, its blocks in the cache, and its progress.

A sequence's tokens are the prompt followed by what it generated so far. `num_computed` counts the leading tokens
whose cache entries are written; the tokens after that are pending and go through the model in the next steps (the
whole prompt, in chunks, at first; afterwards exactly one, the token sampled last). Preemption frees the blocks and
sets `num_computed` back to 0: the prompt and the generated tokens are then recomputed as one longer prompt.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch

from model.errors import ModelError


@dataclass(frozen=True)
class SamplingParams:
    """temperature 0 = greedy; top_k 0 = off; seed None = not reproducible; stop = strings that end the text (not
    included); stop_token_ids end it too (the checkpoint's end-of-sequence ids always do unless ignore_eos)."""
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    grammar: str = ""  # GBNF the output must follow (structured outputs); "" = free text
    json_schema: str = ""  # or a JSON schema it must follow, when no grammar is given
    # (opening, GBNF) tails that end a constrained answer in time: see model/backends/backend.py Structure
    closings: tuple[tuple[str, str], ...] = ()
    closing_tokens: int = 0
    forced_bytes: int = 0

    def check(self) -> None:
        """ModelError naming the first invalid value."""
        if not (self.temperature >= 0):
            raise ModelError(f"temperature must be >= 0, got {self.temperature}")
        if not (0 < self.top_p <= 1):
            raise ModelError(f"top_p must be in (0, 1], got {self.top_p}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ModelError(f"top_k must be an integer >= 0 (0 = off), got {self.top_k}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ModelError(f"max_tokens must be an integer >= 1, got {self.max_tokens}")
        if self.seed is not None and not isinstance(self.seed, int):
            raise ModelError(f"seed must be an integer, got {self.seed!r}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ModelError(f"stop must be non-empty strings, got {list(self.stop)!r}")


class Status(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


_ids = itertools.count()


@dataclass(eq=False)
class Sequence:
    prompt: list[int]
    sampling: SamplingParams
    index: int = 0  # position in the caller's batch
    id: int = field(default_factory=lambda: next(_ids))
    tokens: list[int] = field(init=False)
    status: Status = Status.WAITING
    num_computed: int = 0
    num_cached: int = 0  # prompt tokens found in the prefix cache (the first time the sequence was admitted)
    admitted: bool = False
    block_table: list[int] = field(default_factory=list)
    ready_blocks: int = 0  # leading blocks of block_table known to be computed
    finish_reason: str | None = None  # stop | length | abort | error
    error: str | None = None  # why, when finish_reason is "error"
    request_fault: bool = False  # the error is the request's own (an answer shape the vocabulary cannot spell)
    text: str = ""  # detokenized output so far (cut at a stop string when one appears)
    generator: torch.Generator | None = None
    matcher: Any = None  # the grammar matcher of a constrained request (model/engine/grammar.py)
    closing: str = ""  # "soft": the matcher follows one of sampling.closings; "hard": its bare ending
    # incremental detokenization: the text of tokens[prefix_offset:read_offset] is already in `text`
    prefix_offset: int = 0
    read_offset: int = 0

    def __post_init__(self):
        self.tokens = list(self.prompt)
        self.prefix_offset = self.read_offset = len(self.prompt)
        if self.sampling.seed is not None:
            self.generator = torch.Generator().manual_seed(self.sampling.seed)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def num_prompt(self) -> int:
        return len(self.prompt)

    @property
    def output(self) -> list[int]:
        return self.tokens[len(self.prompt):]

    @property
    def num_pending(self) -> int:
        return len(self.tokens) - self.num_computed

    @property
    def is_finished(self) -> bool:
        return self.status is Status.FINISHED

    def blocks_needed(self, block_size: int, upto: int | None = None) -> int:
        n = len(self.tokens) if upto is None else upto
        return -(-n // block_size)
