"""The engine's HTTP server under hostile requests, over real HTTP on 127.0.0.1 with a real engine on a tiny
checkpoint: sampling values that break arithmetic, bad Content-Length, slow and idle clients, too many connections,
foreign Host headers, and a dead engine loop that /health must report."""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import torch

from model.engine.engine import Engine
from model.engine.sampler import sample
from model.engine.sequence import SamplingParams, Sequence
from model.serve.server import EngineServer

USER = [{"role": "user", "content": "w10 w11 w12 w13"}]
GOOD = {"messages": USER, "temperature": 0, "max_tokens": 4}


def engine_of(tiny):
    return Engine(tiny["llama"][0], block_size=4, cache_gb=0.01, max_model_len=64)


@pytest.fixture(scope="module")
def server(tiny):
    with EngineServer(engine_of(tiny), port=0) as s:
        yield s


def address(server):
    parts = urlsplit(server.base_url)
    return parts.hostname, parts.port


def call(server, method, route, body=None, raw=None, headers=None):
    conn = http.client.HTTPConnection(*address(server), timeout=60)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, route, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    status, text = resp.status, resp.read().decode()
    conn.close()
    return status, text


def raw_exchange(server, data: bytes, timeout=10.0) -> bytes:
    """Send bytes as they are, read until the server closes or `timeout` passes."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def healthy(server) -> bool:
    status, text = call(server, "GET", "/health")
    return status == 200 and json.loads(text)["status"] == "ok"


# ---- sampling values ----

TINY_TEMPERATURES = [1e-40, 1e-38, 1e-30, 1e-12, 1e-6, 5e-5, 1e-308, 5e-324]


def test_tiny_temperatures_are_greedy_and_do_not_kill_the_engine(server):
    status, text = call(server, "POST", "/v1/chat/completions", GOOD)
    greedy = json.loads(text)["choices"][0]["message"]["content"]
    for t in TINY_TEMPERATURES:
        status, text = call(server, "POST", "/v1/chat/completions", {**GOOD, "temperature": t, "seed": 1})
        assert status == 200, (t, text)
        assert json.loads(text)["choices"][0]["message"]["content"] == greedy, t
    assert healthy(server)


def hostile_bodies():
    """(raw JSON body, the field its 400 must name)"""
    base = json.dumps(GOOD)[:-1]  # '{... "max_tokens": 4' without its closing brace
    out = []
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", "-1e999"):
        out += [(f'{base}, "temperature": {literal}}}', "temperature"), (f'{base}, "top_p": {literal}}}', "top_p")]
    values = {"temperature": [-1, -1e-300, 101, 1e300, "0.5", True, [1]],
              "top_p": [0, -0.5, 1.0000001, 2, "1"],
              "top_k": [-2, 1.5, 2 ** 40, "5", False],
              "max_tokens": [0, -1, 2 ** 40, 1.0, "8"],
              "max_completion_tokens": [0, 2 ** 31],
              "n": [0, -3, 65, 2 ** 62, 1.5],
              "seed": [2 ** 64, -(2 ** 64), 1.5, "7"],
              "presence_penalty": [3, -1e9], "frequency_penalty": [1e12],
              "stop": [5, ["x"] * 17, ["y" * 1001], [""], [1, 2]]}
    for key, bad in values.items():
        for v in bad:
            body = {**GOOD, key: v}
            if key == "max_completion_tokens":
                body.pop("max_tokens")
            out.append((json.dumps(body), key))
    return out


def test_each_bad_sampling_value_is_a_400_naming_its_field(server):
    bodies = hostile_bodies()
    assert len(bodies) > 40
    for raw, field in bodies:
        status, text = call(server, "POST", "/v1/chat/completions", raw=raw.encode())
        assert status == 400, (raw, text)
        message = json.loads(text)["error"]["message"]
        assert field in message or "JSON" in message, (raw, message)
        status, _ = call(server, "POST", "/v1/completions", raw=raw.replace('"messages"', '"prompt": "w5 w6", '
                                                                               '"unused"').encode())
        assert status == 400, raw
    assert healthy(server)
    status, text = call(server, "POST", "/v1/chat/completions", GOOD)
    assert status == 200 and json.loads(text)["choices"][0]["message"]["role"] == "assistant"


def test_sampler_never_raises_on_non_finite_logits():
    vocab = 32
    rows = [torch.full((vocab,), float("nan")), torch.full((vocab,), float("-inf")),
            torch.full((vocab,), float("inf")), torch.tensor([float("inf")] + [0.0] * (vocab - 1)),
            torch.tensor([1e38] * vocab), torch.randn(vocab) * 1e30]
    for t in [1.0, 1e-40, 1e-3, 50.0]:
        for p, k in [(1.0, 0), (0.5, 0), (1.0, 3), (1e-9, 1)]:
            seqs = [Sequence(list(range(3)), SamplingParams(temperature=t, top_p=p, top_k=k, seed=0)) for _ in rows]
            tokens = sample(torch.stack(rows), seqs)
            assert all(0 <= tok < vocab for tok in tokens), (t, p, k, tokens)
    fine = torch.zeros(1, vocab)
    fine[0, 7] = 100.0
    assert sample(fine, [Sequence([1], SamplingParams(temperature=1e-40))]) == [7]


def test_health_reports_a_dead_engine_loop(tiny):
    engine = engine_of(tiny)

    def broken_step():
        raise RuntimeError("simulated out of memory")

    with EngineServer(engine, port=0) as s:
        assert healthy(s)
        engine.step = broken_step
        status, text = call(s, "POST", "/v1/chat/completions", GOOD)
        assert status >= 500 and "simulated" in json.loads(text)["error"]["message"]
        status, text = call(s, "GET", "/health")
        assert status == 503 and "simulated out of memory" in json.loads(text)["error"]


# ---- HTTP-level limits ----

def post_head(length_line: str) -> bytes:
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{length_line}\r\n").encode()


@pytest.mark.parametrize("length_line, status", [
    ("Content-Length: -1\r\n", 400), ("Content-Length: abc\r\n", 400), ("Content-Length: 1e3\r\n", 400),
    ("Content-Length: +5\r\n", 400), ("Content-Length: ٣\r\n", 400), ("", 411),
    ("Transfer-Encoding: chunked\r\n", 411), (f"Content-Length: {10 ** 12}\r\n", 413),
    (f"Content-Length: {(8 << 20) + 1}\r\n", 413)])
def test_bad_content_length_gets_a_clear_answer_at_once(server, length_line, status):
    started = time.monotonic()
    answer = raw_exchange(server, post_head(length_line) + b'{"messages": []}')
    assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:200]
    assert b'"message"' in answer and time.monotonic() - started < 5
    assert healthy(server)


def test_a_body_shorter_than_its_length_is_refused(server):
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(post_head("Content-Length: 100\r\n") + b'{"messages": ')
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"ended after" in answer


@pytest.fixture()
def short_limits(server):
    saved = server.read_timeout, server.request_deadline
    server.read_timeout, server.request_deadline = 1.0, 2.0
    yield server
    server.read_timeout, server.request_deadline = saved


def test_slow_loris_and_idle_connections_are_cut(short_limits):
    server = short_limits
    started = time.monotonic()
    with socket.create_connection(address(server), timeout=30) as sock:  # headers dripped under the read timeout
        closed = False
        for byte in post_head("Content-Length: 10\r\n") * 20:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            if time.monotonic() - started > 10:
                break
        if not closed:
            sock.settimeout(5)
            try:
                closed = sock.recv(100) == b""
            except (ConnectionResetError, BrokenPipeError):
                closed = True
    assert closed and time.monotonic() - started < 8
    idle = [socket.create_connection(address(server), timeout=10) for _ in range(5)]
    time.sleep(1.5)
    for sock in idle:  # the server closed each one after its read timeout
        try:
            assert sock.recv(10) == b""
        except ConnectionResetError:
            pass
        sock.close()
    assert healthy(server)


def test_connections_beyond_the_limit_get_503_and_threads_stay_bounded(tiny):
    with EngineServer(engine_of(tiny), port=0) as s:
        # a read timeout far above the test's own time, so the four served stay served while it looks (closing the
        # sockets at the end frees them at once)
        s.max_connections, s.read_timeout = 4, 60.0
        before = threading.active_count()
        held = [socket.create_connection(address(s), timeout=10) for _ in range(300)]
        time.sleep(0.5)
        assert threading.active_count() - before <= 4 * 2 + 2  # a handler and a deadline timer per connection
        time.sleep(1.0)  # the accept loop answers the rest one by one
        answers = []
        for sock in held:
            sock.settimeout(0.05)
            try:
                answers.append(sock.recv(200))
            except TimeoutError:
                answers.append(None)  # one of the four served: silent until its read timeout
        # a served one is silent, or already closed by its read timeout when the machine is slow: never a 503
        served = [a for a in answers if not a]
        assert len(served) == 4, [a for a in answers if a and not a.startswith(b"HTTP/1.1 503")][:3]
        assert all(a.startswith(b"HTTP/1.1 503") and b"limit of 4 connections" in a for a in answers if a)
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the four held slots free up after their read timeout
            try:
                if healthy(s):
                    break
            except (ConnectionError, http.client.HTTPException):
                pass
            time.sleep(0.3)
        assert healthy(s)


# ---- Host header (DNS rebinding) ----

def test_only_loopback_and_allowed_hosts_are_answered(tiny, server):
    _, port = address(server)
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil", "10.0.0.1",
                 "[::2]", "", "LOCALHOST.evil:80"):
        status, text = call(server, "GET", "/v1/models", headers={"Host": host})
        assert status == 421, (host, status)
        assert "--allow-host" in json.loads(text)["error"]["message"]
        status, _ = call(server, "POST", "/v1/chat/completions", GOOD, headers={"Host": host})
        assert status == 421
    for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", f"[::1]:{port}", "LocalHost."):
        assert call(server, "GET", "/v1/models", headers={"Host": host})[0] == 200, host
    with EngineServer(engine_of(tiny), port=0, allow_hosts=("my.box",)) as s:
        assert call(s, "GET", "/v1/models", headers={"Host": "my.box:8000"})[0] == 200
        assert call(s, "GET", "/v1/models", headers={"Host": "other.box"})[0] == 421
