"""A small OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1, stdlib only.

In a test:
    with OpenAIServer(responder=lambda req: ("the answer", "the reasoning"), faults=["500"]) as server:
        backend = RemoteBackend(server.base_url, server.model)
        ...
        assert server.calls_per_key().most_common(1)[0][1] == 2   # the 500 was retried once

As a process (prints its base URL as the first line of stdout, then serves until killed):
    python tests/openai_server.py --port 0 --responder tests/my_script.py:respond --faults 500,hang --hang 3

A responder takes the request's JSON and returns the answer's text, (text, reasoning), or a dict with keys text,
reasoning and optionally finish_reason. Tokens are whitespace-separated words: usage counts them, `max_tokens`
truncates them (finish_reason "length"), `cached_tokens` is the longest prefix shared with an earlier prompt.

Faults, applied to chat requests in arrival order (`faults`), then to every n-th one (`every=(n, kind)`):
    500      HTTP 500 with an OpenAI error body
    429      HTTP 429 with Retry-After (`retry_after`)
    400      HTTP 400 (a client error: must not be retried)
    hang     wait `hang_seconds` before answering (longer than the client's timeout)
    stall    streaming: send half the chunks, wait `hang_seconds`, send the rest; otherwise as hang
    drop     streaming: send half the chunks then close the connection; otherwise close without answering
    garbage  HTTP 200 with an HTML page instead of JSON
    ok       no fault (a placeholder in the list)
`models_fault` ("401", "500", "html", "garbage") makes every GET /v1/models fail that way.

`hold_after=N` answers N chat requests and holds every later one until the file `release` exists (or the server
stops): a kill-and-resume test kills the client at a known count of finished calls, however fast the machine is.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("ok", "500", "429", "400", "hang", "stall", "drop", "garbage")
HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
Responder = Callable[[dict], Any]


def echo(request: dict) -> str:
    """The default responder: repeats the last user message."""
    users = [m.get("content") or "" for m in request.get("messages", []) if m.get("role") == "user"]
    return "Echo: " + (users[-1] if users else "")


def tokens(text: str) -> list[str]:
    """Words with their surrounding whitespace; joining them gives the text back."""
    return re.findall(r"\s*\S+\s*|\s+", text)


def request_key(body: dict) -> str:
    """Equal for two requests that ask the same thing (a retry), whether streamed or not."""
    same = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Received:
    method: str
    path: str
    body: dict | None
    key: str | None
    fault: str | None
    authorization: str | None
    t: float


class OpenAIServer:
    """Serves /v1/models and /v1/chat/completions on 127.0.0.1 from a thread; records every request."""

    def __init__(self, responder: Responder | None = None, *, model: str = "test-model", faults=(),
                 every: tuple[int, str] | None = None, api_key: str | None = None, reasoning_style: str = "field",
                 hang_seconds: float = 5.0, retry_after: str = "1", delay: float = 0.0,
                 models_fault: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 log_path: str | None = None, verbose: bool = False, hold_after: int | None = None,
                 release: str | None = None):
        for kind in [*faults, *([every[1]] if every else [])]:
            if kind not in FAULTS:
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        if reasoning_style not in ("field", "think"):
            raise ValueError("reasoning_style is 'field' (reasoning_content) or 'think' (<think> in the content)")
        self.responder = responder or echo
        self.model, self.api_key, self.reasoning_style = model, api_key, reasoning_style
        self.faults, self.every = list(faults), every
        self.hang_seconds, self.retry_after, self.delay = hang_seconds, retry_after, delay
        self.models_fault, self.verbose = models_fault, verbose
        if hold_after is not None and not release:
            raise ValueError("hold_after needs a release file (the held requests wait until it exists)")
        self.hold_after, self.release, self._answered = hold_after, release, 0
        self.requests: list[Received] = []
        self.in_flight = self.max_in_flight = 0
        self._chat_count = 0
        self._prompts: list[list[str]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.app = self
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="openai-server",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._log:
            self._log.close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what tests look at ---

    def add_faults(self, *kinds: str) -> None:
        with self._lock:
            self.faults.extend(kinds)

    @property
    def chat_requests(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def calls_per_key(self) -> Counter:
        """How many times each distinct chat request arrived (retries of one request share a key)."""
        return Counter(r.key for r in self.chat_requests)

    # --- used by the handler ---

    def _record(self, method: str, path: str, body: dict | None, authorization: str | None) -> Received:
        with self._lock:
            fault = None
            if path.endswith("/chat/completions"):
                self._chat_count += 1
                if self.faults:
                    fault = self.faults.pop(0)
                elif self.every and self._chat_count % self.every[0] == 0:
                    fault = self.every[1]
            received = Received(method, path, body, request_key(body) if body else None,
                                None if fault == "ok" else fault, authorization, time.time())
            self.requests.append(received)
            if self._log:
                record = {k: v for k, v in asdict(received).items() if k != "authorization"}
                self._log.write(json.dumps(record) + "\n")
                self._log.flush()
        return received

    def _pass_gate(self) -> bool:
        """Counts this answer; past `hold_after` answers it waits for the release file. False: the server stops."""
        if self.hold_after is None:
            return True
        with self._lock:
            self._answered += 1
            held = self._answered > self.hold_after
        while held and not os.path.exists(self.release):
            if self._stopping.wait(0.05):
                return False
        return True

    def _cached(self, prompt: list[str]) -> int:
        """Longest prefix (in tokens) shared with an earlier prompt, as a prefix cache would find it."""
        with self._lock:
            best = 0
            for earlier in self._prompts:
                n = 0
                for a, b in zip(prompt, earlier):
                    if a != b:
                        break
                    n += 1
                best = max(best, n)
            self._prompts.append(prompt)
        return best

    def answer(self, body: dict) -> tuple[list[tuple[str, str]], str, dict]:
        """Ask the responder; -> ([(field, piece)...], finish_reason, usage)."""
        reply = self.responder(body)
        finish = None
        if isinstance(reply, dict):
            text, reasoning, finish = reply.get("text", ""), reply.get("reasoning", ""), reply.get("finish_reason")
        elif isinstance(reply, tuple):
            text, reasoning = reply
        else:
            text, reasoning = str(reply), ""
        stops = body.get("stop") or []
        for stop in [stops] if isinstance(stops, str) else stops:
            if stop and stop in text:
                text = text[: text.index(stop)]
        if self.reasoning_style == "think" and reasoning:
            pieces = [("content", p) for p in ["<think>", *tokens(reasoning), "</think>", *tokens(text)]]
        else:
            pieces = [("reasoning_content", p) for p in tokens(reasoning)] + [("content", p) for p in tokens(text)]
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        prompt = tokens(" ".join(f"{m.get('role')}: {m.get('content')}" for m in body.get("messages", [])))
        usage = {"prompt_tokens": len(prompt), "completion_tokens": len(pieces),
                 "total_tokens": len(prompt) + len(pieces),
                 "prompt_tokens_details": {"cached_tokens": self._cached(prompt)}}
        return pieces, finish or "stop", usage


class _HTTPServer(ThreadingHTTPServer):
    block_on_close = False  # stop() must not wait for a handler that is hanging on purpose
    app: OpenAIServer

    def handle_error(self, request, client_address) -> None:
        if self.app.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as uvicorn serves them
    server: _HTTPServer

    def log_message(self, format: str, *args) -> None:
        if self.server.app.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        app = self.server.app
        app._record("GET", self.path, None, self.headers.get("Authorization"))
        if not self.path.rstrip("/").endswith("/models"):
            return self._json(404, _error(f"no route {self.path}", "not_found", 404))
        if not self._authorised():
            return
        fault = app.models_fault
        if fault in ("401", "500"):
            return self._json(int(fault), _error("injected failure", "server_error", int(fault)))
        if fault in ("html", "garbage"):
            return self._raw(200, "text/html" if fault == "html" else "text/plain",
                             HTML if fault == "html" else b"hello, this is not json")
        self._json(200, {"object": "list", "data": [
            {"id": app.model, "object": "model", "created": 0, "owned_by": "proofloop-tests"}]})

    def do_POST(self) -> None:
        app = self.server.app
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            app._record("POST", self.path, None, self.headers.get("Authorization"))
            return self._json(400, _error("the body is not a JSON object", "invalid_request_error", 400))
        received = app._record("POST", self.path, body, self.headers.get("Authorization"))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._json(404, _error(f"no route {self.path}", "not_found", 404))
        if not self._authorised():
            return
        with app._lock:
            app.in_flight += 1
            app.max_in_flight = max(app.max_in_flight, app.in_flight)
        self._counted = True
        try:
            self._chat(body, received.fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout): nothing to do
        finally:
            self._leave()

    def _leave(self) -> None:
        """Stop counting this request as in flight once its answer is ready, before any byte of it is sent: the
        client frees its slot as soon as it has read the answer, possibly before this thread runs again, so counting
        until after the write would see overlaps that never happened."""
        if getattr(self, "_counted", False):
            self._counted = False
            with self.server.app._lock:
                self.server.app.in_flight -= 1

    def _chat(self, body: dict, fault: str | None) -> None:
        app = self.server.app
        if fault == "500":
            return self._json(500, _error("injected internal error", "server_error", 500))
        if fault == "429":
            return self._json(429, _error("injected rate limit", "rate_limit_error", 429),
                              {"Retry-After": app.retry_after})
        if fault == "400":
            return self._json(400, _error("injected bad request: max_tokens is too large", "invalid_request_error",
                                          400))
        if fault == "garbage":
            return self._raw(200, "text/html", HTML)
        if fault == "drop" and not body.get("stream"):
            return self._drop()
        slow = fault == "hang" or fault == "stall" and not body.get("stream")
        if slow and app._stopping.wait(app.hang_seconds):
            return self._drop()
        if not app._pass_gate():
            return self._drop()
        if app.delay:
            time.sleep(app.delay)
        try:
            pieces, finish, usage = app.answer(body)
        except Exception as e:  # a broken responder shows up in the client's error, not as a hang
            self._leave()
            return self._json(500, _error(f"responder failed: {type(e).__name__}: {e}", "server_error", 500))
        self._leave()
        ident, created = f"chatcmpl-{int(time.time() * 1e6)}", int(time.time())
        if not body.get("stream"):
            message: dict = {"role": "assistant", "content": "".join(p for f, p in pieces if f == "content")}
            reasoning = "".join(p for f, p in pieces if f == "reasoning_content")
            if reasoning:
                message["reasoning_content"] = reasoning
            return self._json(200, {"id": ident, "object": "chat.completion", "created": created, "model": app.model,
                                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                    "usage": usage})

        def chunk(choices: list, **extra) -> dict:
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": app.model,
                    "choices": choices, **extra}

        events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        events += [chunk([{"index": 0, "delta": {f: p}, "finish_reason": None}]) for f, p in pieces]
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(chunk([], usage=usage))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        half = max(1, len(events) // 2) if fault in ("drop", "stall") else len(events)
        for event in events[:half]:
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
        if fault == "drop" or fault == "stall" and app._stopping.wait(app.hang_seconds):
            return self._drop()
        for event in events[half:]:
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    # --- writing ---

    def _authorised(self) -> bool:
        key = self.server.app.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._json(401, _error("Incorrect API key provided", "invalid_request_error", 401))
            return False
        return True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        self._raw(status, "application/json", json.dumps(obj).encode(), headers)

    def _raw(self, status: int, content_type: str, data: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _error(message: str, kind: str, code: int) -> dict:
    return {"object": "error", "error": {"message": message, "type": kind, "code": code}}


def load_responder(spec: str) -> Responder:
    """'package.module:function' or 'path/to/file.py:function' (function defaults to `respond`)."""
    target, _, name = spec.partition(":")
    if target.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location("openai_server_responder", target)
        if module_spec is None or module_spec.loader is None:
            raise SystemExit(f"cannot load responder file {target}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, name or "respond")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="OpenAI-compatible test server (prints its base URL, then serves).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--responder", "--script", dest="responder", help="module:function or file.py:function")
    p.add_argument("--model", default="test-model")
    p.add_argument("--faults", default="", help=f"comma-separated, applied in order: {','.join(FAULTS)}")
    p.add_argument("--every", default=None, help="N:KIND, e.g. 5:500 (after --faults are used up)")
    p.add_argument("--hang", type=float, default=5.0, help="seconds a 'hang' fault waits")
    p.add_argument("--retry-after", default="1")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--api-key", default=None, help="require this Bearer key")
    p.add_argument("--reasoning-style", choices=("field", "think"), default="field")
    p.add_argument("--log", default=None, help="append every request received to this JSONL file")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--hold-after", type=int, default=None, help="answer N chat requests, hold the rest until "
                                                                   "--release exists")
    p.add_argument("--release", default=None, help="the file whose existence lets held requests through")
    a = p.parse_args(argv)
    every = None
    if a.every:
        n, _, kind = a.every.partition(":")
        every = (int(n), kind)
    server = OpenAIServer(load_responder(a.responder) if a.responder else None, model=a.model,
                          faults=[f for f in a.faults.split(",") if f], every=every, api_key=a.api_key,
                          reasoning_style=a.reasoning_style, hang_seconds=a.hang, retry_after=a.retry_after,
                          delay=a.delay, host=a.host, port=a.port, log_path=a.log, verbose=a.verbose,
                          hold_after=a.hold_after, release=a.release)
    print(f"http://{a.host}:{server.port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
