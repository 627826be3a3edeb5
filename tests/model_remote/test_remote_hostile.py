"""RemoteBackend against hostile servers on real loopback sockets: servers that drip bytes (each in time for a
per-read timeout), keep a stream alive with comments forever, send huge bodies, or cut a 200's JSON short. Each call
must end by its deadline, refuse what is too large, and retry what was cut."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from hang_guard import LIMIT_GONE

from model.backends.backend import Request, Sampling
from model.backends.remote import RemoteBackend

REQUEST = Request(({"role": "user", "content": "hi"},), Sampling(max_tokens=8))
GOOD = json.dumps({"choices": [{"message": {"role": "assistant", "content": "the answer"}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 2}}).encode()


class HostileServer:
    """A raw socket server: each chat request takes the next behaviour from `script` (the last one repeats)."""

    def __init__(self, script: list[str]):
        self.script, self.requests = list(script), 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length")), b"0"))
                body = head.split(b"\r\n\r\n", 1)[1]
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                kind = self.script.pop(0) if len(self.script) > 1 else self.script[0]
                getattr(self, kind.replace("-", "_"))(conn)
            except OSError:
                pass

    def _head(self, conn, kind="application/json", extra=b""):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind.encode() + b"\r\nConnection: close\r\n" + extra +
                     b"\r\n")

    def ok(self, conn):
        self._head(conn, extra=b"Content-Length: %d\r\n" % len(GOOD))
        conn.sendall(GOOD)

    def drip_json(self, conn):
        self._head(conn)
        for byte in (GOOD[:-1] * 1000):
            if self.stop.wait(0.1):
                return
            conn.sendall(bytes([byte]))

    def drip_stream(self, conn):
        self._head(conn, "text/event-stream")
        while not self.stop.wait(0.1):
            conn.sendall(b": keep-alive\n\n")

    def drip_headers(self, conn):
        for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10000:
            if self.stop.wait(0.1):
                return
            conn.sendall(bytes([byte]))

    def huge_declared(self, conn):
        self._head(conn, extra=b"Content-Length: %d\r\n" % (10 ** 12))
        conn.sendall(b'{"choices": "' + b"x" * (1 << 20))

    def huge_json(self, conn):
        self._head(conn)
        chunk = b"x" * (1 << 20)
        conn.sendall(b'{"choices": [{"message": {"content": "')
        for _ in range(40):
            conn.sendall(chunk)

    def huge_line(self, conn):
        self._head(conn, "text/event-stream")
        conn.sendall(b'data: {"choices": [{"delta": {"content": "')
        for _ in range(40):
            conn.sendall(b"y" * (1 << 20))

    def huge_stream(self, conn):
        self._head(conn, "text/event-stream")
        event = b'data: {"choices": [{"index": 0, "delta": {"content": "' + b"z" * 4000 + b'"}}]}\n\n'
        for _ in range(10000):
            conn.sendall(event)

    def cut_json(self, conn):
        self._head(conn)
        conn.sendall(GOOD[: len(GOOD) // 2])

    def cut_json_declared(self, conn):
        self._head(conn, extra=b"Content-Length: %d\r\n" % len(GOOD))
        conn.sendall(GOOD[: len(GOOD) // 2])

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def hostile():
    servers = []

    def start(*script):
        servers.append(HostileServer(list(script)))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def backend(server, **options):
    return RemoteBackend(server.url, "m", retries=options.pop("retries", 0), backoff=0.01, stream=False,
                         **options)


@pytest.mark.parametrize("kind", ["drip-json", "drip-stream", "drip-headers"])
def test_a_dripping_server_is_cut_off_at_the_deadline(hostile, kind):
    server = hostile(kind)
    client = backend(server, timeout=1.5)  # each byte comes well within 1.5 s; the whole answer never does
    started = time.monotonic()
    got = client.generate([REQUEST])[0]
    took = time.monotonic() - started
    assert got.finish_reason == "error" and "1.5s" in got.error, got.error
    assert took < LIMIT_GONE, took  # without a per-call deadline the drip never ends


@pytest.mark.parametrize("kind", ["huge-declared", "huge-json", "huge-line", "huge-stream"])
def test_a_huge_answer_is_refused_not_held_in_memory(hostile, kind):
    server = hostile(kind)
    client = backend(server, timeout=30, retries=2)
    client.max_response_bytes = 4 << 20
    got = client.generate([REQUEST])[0]
    assert got.finish_reason == "error" and str(4 << 20) in got.error, got.error
    assert server.requests == 1  # the same answer would come again: not retried


@pytest.mark.parametrize("kind", ["cut-json", "cut-json-declared"])
def test_a_200_with_its_json_cut_short_is_retried(hostile, kind):
    server = hostile(kind, kind, "ok")
    got = backend(server, timeout=10, retries=3).generate([REQUEST])[0]
    assert got.finish_reason == "stop" and got.text == "the answer", got.error
    assert server.requests == 3


def test_cut_json_gives_up_with_a_clear_message(hostile):
    server = hostile("cut-json")
    got = backend(server, timeout=10, retries=1).generate([REQUEST])[0]
    assert got.finish_reason == "error" and "stops before its end" in got.error and "2 attempts" in got.error


def test_a_normal_answer_still_arrives_under_the_guards(hostile):
    server = hostile("ok")
    got = backend(server, timeout=5).generate([REQUEST] * 4)
    assert [g.text for g in got] == ["the answer"] * 4
