"""The contract between the proving loop and anything that generates text.

A backend takes a batch of chat requests and returns one Completion per request, in order. Batching is the point:
a round of the loop submits all its verifications at once so a local engine can share their common prefix.
A failed call is not an exception: it comes back as a Completion with finish_reason "error" and the reason, so the
caller can record it and go on.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Structure:
    """The shape an answer must take (structured outputs).

    `ebnf` is a grammar in GBNF (llama.cpp's EBNF dialect, which xgrammar reads; root rule `root`): a local engine
    masks every token the grammar does not allow, so the text itself has the shape. `json_schema` (JSON text) is the
    same shape for servers that only take OpenAI's `response_format`; their answer is then JSON, and whoever declared
    the shape reads it back. Empty means "not available in that form".

    `closings` keep a local answer within max_tokens when `ebnf`'s free parts are unbounded: once `closing_tokens`
    or fewer tokens are left, the engine takes the first (ending, grammar) whose ending (a shortest text that ends
    the answer from where that grammar starts) would complete the answer so far, and writes the rest under that
    grammar: a short tail that ends the answer. When the tokens left only just hold the shortest way to end from
    where the text is (at one token a byte), plus `forced_bytes` (the longest stretch the grammar forces once begun,
    e.g. a quote it must finish), the engine writes exactly that shortest way.
    """
    ebnf: str = ""
    json_schema: str = ""
    name: str = "answer"
    closings: tuple[tuple[str, str], ...] = ()
    closing_tokens: int = 0
    forced_bytes: int = 0


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 4096
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_k: int = 0  # 0 = off
    structure: Structure | None = None  # None = free text


@dataclass(frozen=True)
class Request:
    messages: tuple[dict, ...]  # [{"role": "system"|"user"|"assistant", "content": str}, ...]
    sampling: Sampling = field(default_factory=Sampling)

    def to_dict(self) -> dict:
        sampling = asdict(self.sampling)
        if sampling["structure"] is None:
            del sampling["structure"]  # free text: recorded as before structured outputs existed
        return {"messages": list(self.messages), "sampling": sampling}


@dataclass
class Completion:
    text: str
    reasoning: str = ""
    finish_reason: str = "stop"  # stop | length | error
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Completion:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


OnResult = Callable[[int, Completion], None]
# on_tokens(index, n_new): n_new more tokens of request `index` arrived (progress only; counts may be approximate
# for servers that stream several tokens per chunk). Called from any thread, before that request's on_result.
OnTokens = Callable[[int, int], None]


class Backend(Protocol):
    @property
    def name(self) -> str:
        """What the run records as the model, e.g. "local:NAME" (read-only: each backend derives its own)."""
        ...

    def generate(self, requests: list[Request], on_result: OnResult | None = None, *,
                 on_tokens: OnTokens | None = None) -> list[Completion]:
        """Run all requests; call on_result(index, completion) as each one finishes (from any thread), and
        on_tokens(index, n_new) as tokens arrive, where the backend can tell (optional: callers check for it)."""
        ...
