"""The local backend: the proving loop's chat requests on the in-process engine.

Messages become tokens through the checkpoint's chat encoding (model/chat.py); all requests of a call go to the
engine together, so requests sharing a prefix (one problem and proof, many verifications) share cache blocks. The
reply is split into reasoning (`<think>...</think>`) and answer. A request that cannot run (invalid sampling, prompt
too long) comes back as a Completion with finish_reason "error"; the others run.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from model.backends.backend import Completion, OnResult, Request, Sampling
from model.engine.sequence import SamplingParams
from model.errors import ModelError


def demo_checkpoint() -> Path:
    """The embedded demo model (SmolLM2-135M-Instruct), converted from its GGUF once and cached."""
    from model.gguf_import import convert, demo_gguf

    return convert(demo_gguf())


def sampling_params(s: Sampling, stop_token_ids: tuple[int, ...] = ()) -> SamplingParams:
    params = SamplingParams(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k or 0, max_tokens=s.max_tokens,
                            seed=s.seed, stop=tuple(s.stop or ()), stop_token_ids=stop_token_ids)
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
    def from_path(cls, path: str | Path | None, **engine_options) -> "LocalBackend":
        from model.engine.engine import Engine

        return cls(Engine(path if path is not None else demo_checkpoint(), **engine_options))

    @property
    def name(self) -> str:
        return f"local:{self.engine.path.name}"

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.engine.path)!r})"

    def encode(self, request: Request) -> list[int]:
        return self.chat.encode(list(request.messages), thinking=self.thinking)

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[Completion]:
        """All requests in one engine run; on_result(index, completion) as each finishes, in this thread."""
        start = time.monotonic()
        results: list[Completion | None] = [None] * len(requests)
        with self._lock:
            seqs = {}
            for i, request in enumerate(requests):
                try:
                    seq = self.engine.add(self.encode(request), sampling_params(request.sampling, self.stop_ids),
                                          index=i)
                except ModelError as e:
                    results[i] = Completion(text="", finish_reason="error", error=str(e),
                                            seconds=time.monotonic() - start)
                    if on_result:
                        on_result(i, results[i])
                    continue
                seqs[seq.id] = seq
            try:
                while any(not s.is_finished for s in seqs.values()):
                    for seq, _, _ in self.engine.step():
                        if seq.id in seqs and seq.is_finished:
                            results[seq.index] = self._completion(seq, start)
                            if on_result:
                                on_result(seq.index, results[seq.index])
            finally:
                for seq in seqs.values():
                    self.engine.abort(seq)
        return results  # type: ignore[return-value]

    def _completion(self, seq, start: float) -> Completion:
        reasoning, answer = self.chat.parse(seq.text, thinking=self.thinking)
        return Completion(text=answer, reasoning=reasoning, finish_reason=seq.finish_reason or "length",
                          prompt_tokens=seq.num_prompt, cached_tokens=seq.num_cached,
                          completion_tokens=len(seq.output), seconds=time.monotonic() - start)
