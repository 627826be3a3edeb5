"""An in-process Backend that answers with a responder function; counts what it was asked."""
from __future__ import annotations

from model.backends.backend import Completion, Request


class ScriptedBackend:
    name = "scripted"

    def __init__(self, responder, finish_reason: str = "stop"):
        self.responder = responder
        self.finish_reason = finish_reason
        self.requests: list[Request] = []

    def generate(self, requests, on_result=None):
        out = []
        for i, r in enumerate(requests):
            self.requests.append(r)
            text = self.responder({"messages": list(r.messages), "seed": r.sampling.seed})
            c = Completion(text=text, finish_reason=self.finish_reason,
                           prompt_tokens=len(r.messages[-1]["content"].split()), completion_tokens=len(text.split()))
            if on_result:
                on_result(i, c)
            out.append(c)
        return out
