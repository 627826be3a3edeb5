"""The local backend: the proving loop's chat requests on the in-process engine.

Messages become tokens through the checkpoint's chat encoding (model/engine/chat.py); all requests of a call go to the
engine together, so requests sharing a prefix (one problem and proof, many verifications) share cache blocks. The
reply is split into reasoning (`<think>...</think>`) and answer. A request that cannot run (invalid sampling, prompt
too long) or whose sampling fails on the way comes back as a Completion with finish_reason "error"; the others run.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from model.backends.backend import Completion, OnResult, OnTokens, Request, Sampling
from model.engine.sequence import SamplingParams
from model.errors import ModelError


def demo_checkpoint(name: str | None = None) -> Path:
    """An embedded model (`demo` or None: the default one), fetched and converted from its GGUF once, cached."""
    from model.embedded import embedded_gguf
    from model.gguf_import import convert

    return convert(embedded_gguf(name))


def sampling_params(s: Sampling, stop_token_ids: tuple[int, ...] = ()) -> SamplingParams:
    params = SamplingParams(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k or 0, max_tokens=s.max_tokens,
                            seed=s.seed, stop=tuple(s.stop or ()), stop_token_ids=stop_token_ids,
                            grammar=s.structure.ebnf if s.structure else "",
                            json_schema=s.structure.json_schema if s.structure else "",
                            closings=s.structure.closings if s.structure else (),
                            closing_tokens=s.structure.closing_tokens if s.structure else 0,
                            forced_bytes=s.structure.forced_bytes if s.structure else 0)
    params.check()
    return params


class LocalBackend:
    def __init__(self, engine, thinking: bool = True):
        from model.engine.chat import ChatFormat

        self.engine = engine
        self.thinking = thinking
        self.chat = ChatFormat.from_checkpoint(engine.path, engine.model.config.model_type)
        self.stop_ids = tuple(self.chat.stop_token_ids)
        self._lock = threading.Lock()  # one generate at a time: the engine is single-threaded

    @classmethod
    def from_path(cls, path: str | Path | None, **engine_options) -> LocalBackend:
        from model.engine.engine import Engine

        return cls(Engine(path if path is not None else demo_checkpoint(), **engine_options))

    @property
    def name(self) -> str:
        return f"local:{self.engine.path.name}"

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.engine.path)!r})"

    def encode(self, request: Request) -> list[int]:
        return self.chat.encode(list(request.messages), thinking=self.thinking)

    def generate(self, requests: list[Request], on_result: OnResult | None = None, *,
                 on_tokens: OnTokens | None = None) -> list[Completion]:
        """All requests in one engine run; on_result(index, completion) as each finishes and on_tokens(index, n)
        as each request's new tokens arrive, in this thread."""
        start = time.monotonic()
        results: list[Completion | None] = [None] * len(requests)

        def finish(i: int, completion: Completion) -> None:
            results[i] = completion
            if on_result:
                on_result(i, completion)

        with self._lock:
            prompts, params, where = [], [], []  # where[k]: the request of the engine's k-th prompt
            for i, request in enumerate(requests):
                try:
                    prompts.append(self.encode(request))
                    params.append(sampling_params(request.sampling, self.stop_ids))
                    where.append(i)
                except ModelError as e:
                    del prompts[len(where):]
                    finish(i, Completion(text="", finish_reason="error", error=str(e),
                                         seconds=time.monotonic() - start))
            if prompts:
                for event in self.engine.stream(prompts, params, errors="output"):
                    if on_tokens and event.token_ids:
                        on_tokens(where[event.index], len(event.token_ids))
                    if event.output is not None:
                        finish(where[event.index], self._completion(event.output, start))
        return results  # type: ignore[return-value]

    def _completion(self, out, start: float) -> Completion:
        if out.finish_reason == "error":
            return Completion(text="", finish_reason="error", error=out.error, seconds=time.monotonic() - start)
        reasoning, answer = self.chat.parse(out.text, thinking=self.thinking)
        return Completion(text=answer, reasoning=reasoning, finish_reason=out.finish_reason,
                          prompt_tokens=out.prompt_tokens, cached_tokens=out.cached_tokens,
                          completion_tokens=out.completion_tokens, seconds=time.monotonic() - start)
