"""Issuing a batch of model calls through the run store: finished calls are read back, the rest go to the backend
in one batch and are committed one by one as they finish. `completion_status` is the one mapping from a
finish reason to a recorded call's status."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from ledger.store import RunStore
from model.backends.backend import Backend, Completion, Request


@dataclass(frozen=True)
class Call:
    key: str  # idempotency key, stable across resumes
    kind: str
    candidate_id: str | None
    round: int | None
    request: Request
    problem_id: str | None = None  # a batch over many problems (grading) names each call's; else the runner's


StatusOf = Callable[[Completion], str]
OnEvent = Callable[[dict], None]


def completion_status(c: Completion, readable: bool = True, unreadable: str = "unparsed") -> str:
    """error | truncated (the answer hit max_tokens) | ok, or `unreadable` (unparsed, or the reader's own reason such
    as rubric_mismatch) when the caller could not read the answer."""
    if c.finish_reason == "error":
        return "error"
    if c.finish_reason == "length":
        return "truncated"
    return "ok" if readable else unreadable


class CallRunner:
    """Runs calls through `store` (None: straight to the backend, nothing recorded or replayed)."""

    def __init__(self, backend: Backend, store: RunStore | None, problem_id: str, on_event: OnEvent | None = None):
        self.backend = backend
        self.store = store
        self.problem_id = problem_id
        self.on_event = on_event or (lambda e: None)

    def run(self, calls: list[Call], status_of: StatusOf = completion_status) -> list[Completion]:
        results: list[Completion | None] = [None] * len(calls)
        todo: list[int] = []
        for i, call in enumerate(calls):
            found = self.store.finished(call.key) if self.store is not None else None
            if found:
                results[i] = found[0]
            else:
                todo.append(i)
        if calls:
            self.on_event({"type": "calls", "kind": calls[0].kind, "total": len(calls),
                           "reused": len(calls) - len(todo)})
        if todo:
            recorded: set[int] = set()

            def on_result(j: int, completion: Completion) -> None:
                recorded.add(j)
                call = calls[todo[j]]
                status = status_of(completion)
                if self.store is not None:
                    self.store.record(call.key, call.kind, call.problem_id or self.problem_id, call.candidate_id,
                                      call.round, call.request, completion, status)
                self.on_event({"type": "call_done", "kind": call.kind, "key": call.key, "status": status,
                               "tokens": completion.prompt_tokens + completion.completion_tokens})

            def on_tokens(j: int, n: int) -> None:
                self.on_event({"type": "tokens", "kind": calls[todo[j]].kind, "n": n})

            requests = [calls[i].request for i in todo]
            if _takes_on_tokens(self.backend):
                fresh = self.backend.generate(requests, on_result=on_result, on_tokens=on_tokens)
            else:  # a backend written before on_tokens: progress only when calls finish
                fresh = self.backend.generate(requests, on_result=on_result)
            for j, (i, completion) in enumerate(zip(todo, fresh)):
                if j not in recorded:  # a backend that did not report as it went
                    on_result(j, completion)
                results[i] = completion
        return results  # type: ignore[return-value]


def _takes_on_tokens(backend: Backend) -> bool:
    try:
        return "on_tokens" in inspect.signature(backend.generate).parameters
    except (TypeError, ValueError):
        return False
