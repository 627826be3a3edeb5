"""The local backend: chat requests on the engine, shared prefixes, per-request errors, reasoning split."""
from __future__ import annotations

from model.backends.backend import Request, Sampling
from model.backends.local import LocalBackend
from model.engine.chat import ChatFormat
from model.engine.engine import Engine
from model.serve.requests import ReasoningSplitter

PROOF = "w30 w31 w32 w33 w34 w35 w36 w37 w38 w39 w40 w41 w42 w43 w44 w45 w46 w47 w48 w49"


def test_requests_share_their_prefix_and_errors_stay_per_request(tiny):
    backend = LocalBackend(Engine(tiny["deepseek_v3"][0], block_size=4, cache_gb=0.01))
    greedy = Sampling(temperature=0, max_tokens=6)
    reqs = [Request(({"role": "user", "content": f"{PROOF} w{50 + i}"},), greedy) for i in range(4)]
    reqs.insert(2, Request(reqs[0].messages, Sampling(top_p=2.0)))
    seen = []
    out = backend.generate(reqs, on_result=lambda i, c: seen.append(i))
    assert sorted(seen) == list(range(5))
    assert out[2].finish_reason == "error" and "top_p" in out[2].error
    ok = [c for i, c in enumerate(out) if i != 2]
    assert all(c.finish_reason in ("stop", "length") and c.completion_tokens > 0 for c in ok)
    assert ok[0].cached_tokens == 0 and all(c.cached_tokens >= 20 for c in ok[1:])
    alone = backend.generate([reqs[3]])[0]
    assert alone.text == out[3].text


def test_reasoning_is_split_while_streaming():
    chat = ChatFormat.__new__(ChatFormat)
    chat.kind = "template"
    for pieces in (["<think>a b", "</th", "ink>\nthe answer"], ["<th", "ink>a b</think>", "the answer"]):
        splitter = ReasoningSplitter(chat, thinking=True)
        got = [p for i, text in enumerate(pieces) for p in splitter.feed(text, final=i == len(pieces) - 1)]
        reasoning = "".join(t for k, t in got if k == "reasoning_content")
        content = "".join(t for k, t in got if k == "content")
        assert (reasoning, content) == ("a b", "the answer")
    plain = ReasoningSplitter(chat, thinking=True)
    assert plain.feed("<t") == [] and plain.feed("able>", final=True) == [("content", "<table>")]
    chat.kind = "deepseek_v32"
    v32 = ReasoningSplitter(chat, thinking=True)
    assert v32.feed("hmm</think>yes", final=True) == [("reasoning_content", "hmm"), ("content", "yes")]


def test_tokens_are_reported_as_they_arrive_before_each_result(tiny):
    backend = LocalBackend(Engine(tiny["llama"][0], block_size=4, cache_gb=0.01))
    greedy = Sampling(temperature=0, max_tokens=8)
    reqs = [Request(({"role": "user", "content": f"{PROOF} w{50 + i}"},), greedy) for i in range(3)]
    events: list[tuple] = []
    out = backend.generate(reqs, on_result=lambda i, c: events.append(("done", i)),
                           on_tokens=lambda i, n: events.append(("tokens", i, n)))
    for i, c in enumerate(out):
        mine = [e for e in events if e[1] == i]
        assert mine[-1] == ("done", i) and len(mine) > 2  # several token reports, then the result
        assert sum(e[2] for e in mine[:-1]) == c.completion_tokens
    first_done = next(k for k, e in enumerate(events) if e[0] == "done")
    assert {e[1] for e in events[:first_done] if e[0] == "tokens"} == {0, 1, 2}  # all in flight together
