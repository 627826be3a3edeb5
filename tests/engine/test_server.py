"""The OpenAI-compatible server over real HTTP on 127.0.0.1: the remote backend and plain http.client requests."""
from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from hang_guard import HANG_GUARD

from model.backends.backend import Request, Sampling
from model.backends.local import LocalBackend
from model.backends.remote import RemoteBackend
from model.engine.engine import Engine
from model.serve.server import EngineServer

USER = [{"role": "user", "content": "w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 w20"}]


@pytest.fixture(scope="module")
def server(tiny):
    path, _ = tiny["llama"]
    engine = Engine(path, block_size=4, cache_gb=0.01, max_model_len=64)
    with EngineServer(engine, port=0) as s:
        yield s


def call(server, method: str, route: str, body=None, raw: bytes | None = None):
    parts = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HANG_GUARD)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, "/v1" + route, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    status, text = resp.status, resp.read().decode()
    conn.close()
    return status, text


def test_remote_backend_through_our_server(server, tiny):
    local = LocalBackend(Engine(tiny["llama"][0], block_size=4, cache_gb=0.01))
    greedy = Sampling(temperature=0, max_tokens=8)
    expected = local.generate([Request(tuple(USER), greedy)])[0]
    backend = RemoteBackend(server.base_url, None, retries=0)
    reqs = [Request(tuple(USER), greedy),
            Request(tuple(USER), Sampling(temperature=0, top_p=0.0, max_tokens=8)),  # invalid: HTTP 400
            Request(({"role": "user", "content": "w5 " * 70},), greedy),  # longer than the context: HTTP 400
            Request(tuple(USER), Sampling(temperature=0.8, max_tokens=8, seed=3))]
    got = backend.generate(reqs)
    assert got[0].text == expected.text and got[0].finish_reason == expected.finish_reason
    assert got[0].completion_tokens == expected.completion_tokens and got[0].prompt_tokens == expected.prompt_tokens
    assert got[1].finish_reason == "error" and "top_p" in got[1].error
    assert got[2].finish_reason == "error" and "context" in got[2].error
    assert got[3].finish_reason in ("stop", "length") and got[3].completion_tokens > 0
    again = backend.generate([reqs[0]])[0]
    assert again.cached_tokens > 0 and again.text == expected.text


def test_plain_http_routes_errors_and_streaming(server):
    status, text = call(server, "GET", "/models")
    assert status == 200 and json.loads(text)["data"][0]["id"] == server.model_name
    body = {"messages": USER, "temperature": 0, "max_tokens": 6}
    status, text = call(server, "POST", "/chat/completions", body)
    whole = json.loads(text)
    assert status == 200 and whole["choices"][0]["message"]["role"] == "assistant"
    assert "cached_tokens" in whole["usage"]["prompt_tokens_details"]
    for bad in ({**body, "temperature": "hot"}, {**body, "max_tokens": 0}, {"messages": []},
                {**body, "stop": 5}, {**body, "model": "another"}):
        status, text = call(server, "POST", "/chat/completions", bad)
        assert status in (400, 404) and json.loads(text)["error"]["message"]
    status, _ = call(server, "POST", "/chat/completions", raw=b"{not json")
    assert status == 400
    status, text = call(server, "POST", "/chat/completions", {**body, "stream": True,
                                                               "stream_options": {"include_usage": True}})
    chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert status == 200 and text.rstrip().endswith("data: [DONE]")
    assert streamed == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    status, text = call(server, "POST", "/completions", {"prompt": "w7 w8 w9", "temperature": 0, "max_tokens": 5,
                                                         "stop": ["w999"]})
    done = json.loads(text)
    assert status == 200 and done["object"] == "text_completion" and done["usage"]["completion_tokens"] >= 1
    status, text = call(server, "POST", "/completions", {"prompt": "w7 w8 w9", "temperature": 0, "max_tokens": 5,
                                                         "stream": True})
    pieces = [json.loads(line[6:])["choices"][0]["text"] for line in text.splitlines() if line.startswith("data: {")]
    assert "".join(pieces) == done["choices"][0]["text"]


def test_n_choices_whole_and_streamed(server):
    long_user = [{"role": "user", "content": " ".join(f"w{20 + i % 90}" for i in range(30))}]
    body = {"messages": long_user, "temperature": 1.0, "max_tokens": 6, "seed": 11, "n": 3}
    before = server.engine.prefill_tokens
    status, text = call(server, "POST", "/chat/completions", body)
    whole = json.loads(text)
    assert status == 200 and [c["index"] for c in whole["choices"]] == [0, 1, 2]
    prompt = whole["usage"]["prompt_tokens"]
    assert server.engine.prefill_tokens - before < 2 * prompt  # siblings share the prompt's blocks, not 3x the work
    contents = [c["message"]["content"] for c in whole["choices"]]
    assert len(set(contents)) > 1  # seeds 11, 12, 13: not one completion three times
    assert whole["usage"]["completion_tokens"] == sum(
        json.loads(call(server, "POST", "/chat/completions", {**body, "n": 1, "seed": 11 + i})[1])
        ["usage"]["completion_tokens"] for i in range(3))
    # the same choices streamed: chunks of the three interleave, each ends with its own finish_reason
    status, text = call(server, "POST", "/chat/completions", {**body, "stream": True,
                                                               "stream_options": {"include_usage": True}})
    chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    streamed = ["".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                        if c["choices"] and c["choices"][0]["index"] == i) for i in range(3)]
    assert status == 200 and streamed == contents
    finished = [c["choices"][0]["index"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert sorted(finished) == [0, 1, 2]
    assert chunks[-1]["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]
    for bad in (0, 65, "3", 2.5):
        status, text = call(server, "POST", "/chat/completions", {**body, "n": bad})
        assert status == 400 and "n must be" in json.loads(text)["error"]["message"]
    status, text = call(server, "POST", "/completions", {"prompt": "w7 w8 w9", "temperature": 0, "max_tokens": 4,
                                                         "n": 2})
    texts = [c["text"] for c in json.loads(text)["choices"]]
    assert status == 200 and len(texts) == 2 and texts[0] == texts[1]  # greedy: the same twice


def test_extreme_sampling_is_greedy_and_a_bad_request_fails_alone(server):
    """temperature 1e-45 would break a draw (logits overflow to inf): it is served as greedy; a request with an
    invalid value fails alone with a 400, while one running beside it finishes as it does alone."""
    import threading

    good = {"messages": USER, "temperature": 0, "max_tokens": 6}
    alone = json.loads(call(server, "POST", "/chat/completions", good)[1])
    extreme = {"messages": USER, "temperature": 1e-45, "max_tokens": 6}
    hostile = {"messages": USER, "temperature": -1, "max_tokens": 6}
    results = {}

    def send(key, body):
        results[key] = call(server, "POST", "/chat/completions", body)

    threads = [threading.Thread(target=send, args=(k, b))
               for k, b in (("good", good), ("bad", hostile), ("extreme", extreme))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    status, text = results["bad"]
    assert status == 400 and "temperature" in json.loads(text)["error"]["message"]
    status, text = results["extreme"]
    assert status == 200 and json.loads(text)["choices"] == alone["choices"]
    status, text = results["good"]
    assert status == 200 and json.loads(text)["choices"] == alone["choices"]
    status, text = call(server, "POST", "/chat/completions", {**hostile, "stream": True})
    assert status == 400 and "temperature" in text
    assert call(server, "POST", "/chat/completions", good)[0] == 200  # the engine still serves


def test_answer_shapes_in_requests_and_a_bad_one_fails_alone(server):
    """response_format / structured_outputs / ebnf reach the engine's grammar; a shape that does not compile is that
    request's 400, and the next request is served."""
    grammar = 'root ::= "w1" [ a-z0-9]{1,9}'
    for extra in ({"structured_outputs": {"grammar": grammar}}, {"ebnf": grammar}):
        status, text = call(server, "POST", "/chat/completions",
                            {"messages": USER, "max_tokens": 12, "temperature": 1.0, "seed": 1, **extra})
        assert status == 200, text
        assert json.loads(text)["choices"][0]["message"]["content"].startswith("w1")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    status, text = call(server, "POST", "/chat/completions", {"messages": USER, "max_tokens": 8, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    # the word-level tiny vocabulary cannot spell JSON: that request fails, naming why, and is not a crash
    assert status == 400 and "cannot be written with this tokenizer" in text, text
    bad = [{"ebnf": 'root ::= "a" undefined_rule'}, {"response_format": {"type": "xml"}},
           {"structured_outputs": {"regex": "a+"}}, {"ebnf": grammar, "response_format": {"type": "json_object"}}]
    for extra in bad:
        status, text = call(server, "POST", "/chat/completions", {"messages": USER, "max_tokens": 4, **extra})
        assert status == 400 and "error" in json.loads(text), (extra, text)
    status, _ = call(server, "POST", "/chat/completions", {"messages": USER, "max_tokens": 4})
    assert status == 200
