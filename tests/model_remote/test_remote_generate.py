"""RemoteBackend.generate through a real OpenAI-compatible server on loopback."""
import logging
import threading

import pytest
from hang_guard import CLIENT_TIMEOUT, HANG_GUARD

from model.backends.backend import Request, Sampling
from model.backends.remote import RemoteBackend


def ask(text: str, **sampling) -> Request:
    return Request(messages=({"role": "user", "content": text},), sampling=Sampling(**sampling))


def backend(server, **options) -> RemoteBackend:
    fast = dict(timeout=CLIENT_TIMEOUT, connect_timeout=CLIENT_TIMEOUT, retries=2, backoff=0.01)
    return RemoteBackend(server.base_url, server.model, **{**fast, **options})


def reply(text, reasoning=""):
    return lambda request: (text, reasoning)


@pytest.mark.parametrize("stream", [True, False])
def test_answer_usage_and_payload(serve, stream):
    server = serve(reply("The answer is 42."))
    question = ask("What is six times seven?", temperature=0.6, top_p=0.95, max_tokens=100, seed=7, stop=("QED",))
    [c] = backend(server, stream=stream).generate([question])
    assert c.error is None and c.finish_reason == "stop"
    assert c.text == "The answer is 42." and c.reasoning == ""
    assert c.completion_tokens == 4 and c.prompt_tokens == 6 and c.seconds > 0
    body = server.chat_requests[0].body
    assert body["model"] == "test-model" and body["messages"] == list(question.messages)
    sampling = (body["temperature"], body["top_p"], body["max_tokens"], body["seed"], body["stop"])
    assert sampling == (0.6, 0.95, 100, 7, ["QED"])
    assert "top_k" not in body
    streamed = (body.get("stream"), body.get("stream_options"))
    assert streamed == ((True, {"include_usage": True}) if stream else (None, None))


def test_top_k_sent_only_when_set(serve):
    server = serve()
    backend(server).generate([ask("a", top_k=20)])
    assert server.chat_requests[0].body["top_k"] == 20


@pytest.mark.parametrize("style", ["field", "think"])
@pytest.mark.parametrize("stream", [True, False])
def test_reasoning_kept_apart(serve, style, stream):
    server = serve(reply("Final: 3.", "Let me try small cases first."), reasoning_style=style)
    [c] = backend(server, stream=stream).generate([ask("q")])
    assert c.text == "Final: 3."
    assert c.reasoning == "Let me try small cases first."


@pytest.mark.parametrize("stream", [True, False])
def test_unterminated_think_when_truncated(serve, stream):
    server = serve(reply("Final.", "one two three four five six"), reasoning_style="think")
    [c] = backend(server, stream=stream).generate([ask("q", max_tokens=4)])
    assert c.finish_reason == "length" and c.completion_tokens == 4
    assert c.text == "" and c.reasoning == "one two three"


def test_cached_tokens_reported(serve):
    server = serve()
    shared = "a long shared problem statement " * 5
    b = backend(server, concurrency=1)
    first, second = b.generate([ask(shared + "first proof"), ask(shared + "second proof")])
    assert first.cached_tokens == 0
    assert second.cached_tokens == second.prompt_tokens - 2 > 20


@pytest.mark.parametrize("fault,stream", [("500", True), ("429", True), ("hang", True), ("stall", True),
                                          ("drop", True), ("drop", False), ("hang", False)])
def test_transient_failures_are_retried(serve, fault, stream):
    server = serve(reply("proof"), faults=[fault], hang_seconds=HANG_GUARD, retry_after="0.3")  # until it stops
    [c] = backend(server, stream=stream).generate([ask("q")])
    assert (c.error, c.text, c.finish_reason) == (None, "proof", "stop")
    assert list(server.calls_per_key().values()) == [2]
    if fault == "429":  # Retry-After honoured although backoff is 0.01 s
        first, second = server.chat_requests
        assert second.t - first.t >= 0.28


def test_gives_up_after_retries(serve):
    server = serve(faults=["500"] * 5)
    [c] = backend(server, retries=2).generate([ask("q")])
    assert c.finish_reason == "error" and c.text == ""
    assert "HTTP 500" in c.error and "injected internal error" in c.error and "3 attempts" in c.error
    assert len(server.chat_requests) == 3


def test_client_error_not_retried(serve):
    server = serve(faults=["400"])
    [c] = backend(server).generate([ask("q")])
    assert c.finish_reason == "error" and "HTTP 400" in c.error and "max_tokens is too large" in c.error
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize("stream", [True, False])
def test_garbage_is_an_error_completion_not_an_exception(serve, stream):
    server = serve(reply("fine"), faults=["garbage"])
    results = backend(server, stream=stream, concurrency=1).generate([ask("a"), ask("b"), ask("c")])
    assert results[0].finish_reason == "error" and "HTML page (502 Bad Gateway)" in results[0].error
    assert [c.text for c in results[1:]] == ["fine", "fine"]
    assert len(server.chat_requests) == 3  # not retried


def test_wrong_api_key_is_an_error_completion(serve):
    server = serve(api_key="sk-right")
    [c] = backend(server, api_key="sk-wrong").generate([ask("q")])
    assert c.finish_reason == "error" and "HTTP 401" in c.error and "--api-key" in c.error
    assert "sk-wrong" not in c.error
    [ok] = backend(server, api_key="sk-right").generate([ask("q")])
    assert ok.text == "Echo: q"


def test_concurrency_order_and_callbacks(serve):
    server = serve(delay=0.15)
    seen, lock = [], threading.Lock()

    def on_result(i, c):
        with lock:
            seen.append((i, c.text))

    results = backend(server, concurrency=3).generate([ask(f"n{i}") for i in range(10)], on_result=on_result)
    assert [c.text for c in results] == [f"Echo: n{i}" for i in range(10)]
    assert sorted(seen) == [(i, f"Echo: n{i}") for i in range(10)]
    assert 2 <= server.max_in_flight <= 3  # the limit, and the calls did overlap


def test_limit_holds_across_concurrent_batches(serve):
    server = serve(delay=0.1)
    b = backend(server, concurrency=2)
    batches = [threading.Thread(target=b.generate, args=([ask(f"{k}{i}") for i in range(4)],)) for k in "xy"]
    for t in batches:
        t.start()
    for t in batches:
        t.join()
    assert len(server.chat_requests) == 8 and server.max_in_flight <= 2


def test_callback_exception_stops_the_batch(serve):
    server = serve(delay=0.05)

    def on_result(i, c):
        raise RuntimeError("store is full")

    with pytest.raises(RuntimeError, match="store is full"):
        backend(server, concurrency=1).generate([ask(str(i)) for i in range(5)], on_result=on_result)
    assert len(server.chat_requests) == 1


def test_unreachable_mid_batch_is_an_error_completion(free_port):
    b = RemoteBackend(f"http://127.0.0.1:{free_port}", "m", retries=1, backoff=0.01, connect_timeout=1)
    [c] = b.generate([ask("q")])
    assert c.finish_reason == "error" and "connection refused" in c.error and "2 attempts" in c.error


def test_api_key_never_logged(serve, caplog):
    server = serve(faults=["500", "drop"], api_key="sk-secret-123")
    caplog.set_level(logging.DEBUG)
    b = backend(server, api_key="sk-secret-123")
    [c] = b.generate([ask("q")])
    assert c.text == "Echo: q" and server.chat_requests[-1].authorization == "Bearer sk-secret-123"
    assert caplog.records and "sk-secret" not in caplog.text
    assert "sk-secret" not in repr(b) and "sk-secret" not in b.name


def test_empty_batch():
    assert RemoteBackend("http://127.0.0.1:9", "m").generate([]) == []


def test_streamed_tokens_are_reported_before_the_call_finishes(serve):
    # the server sends half its chunks, then stalls until it stops: tokens must show while the call is open
    server = serve(reply("one two three four five six seven eight"), faults=["stall"], hang_seconds=HANG_GUARD)
    b = backend(server, stream=True, timeout=HANG_GUARD, retries=0)
    arrived, tokens, results = threading.Event(), [], []

    def on_tokens(i, n):
        tokens.append((i, n))
        arrived.set()

    worker = threading.Thread(target=lambda: results.extend(
        b.generate([ask("q")], on_result=lambda i, c: results.append(c), on_tokens=on_tokens)))
    worker.start()
    assert arrived.wait(HANG_GUARD)
    assert results == [] and tokens and all(i == 0 for i, _ in tokens)
    server.stop()  # the stalled answer is dropped: the call ends (as an error) and the thread with it
    worker.join(HANG_GUARD)
    assert not worker.is_alive()


@pytest.mark.parametrize("stream", [True, False])
def test_tokens_count_the_answer(serve, stream):
    server = serve(reply("one two three four", "a b"))
    seen = []
    [c] = backend(server, stream=stream).generate([ask("q")], on_tokens=lambda i, n: seen.append(n))
    assert c.text == "one two three four"
    assert sum(seen) == (c.completion_tokens if stream else 0)  # a whole JSON answer has nothing to report early
