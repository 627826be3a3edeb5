"""An OpenAI-compatible HTTP server over the engine (stdlib http.server; one engine thread, one thread per client).

    GET  /v1/models               the served model
    POST /v1/chat/completions     messages -> the checkpoint's chat encoding; reasoning in `reasoning_content`
    POST /v1/completions          a prompt string (or token ids) continued as is
Both POST routes stream server-sent events with `"stream": true` (usage in a last chunk with
`stream_options.include_usage`). `n` asks for several completions of one prompt (choice i samples with seed + i
when a seed is given); they run as sibling sequences, so the prompt is computed once and the others find it in the
prefix cache. Usage reports `prompt_tokens_details.cached_tokens`, the prompt tokens found in the prefix cache. A
request the engine cannot run (bad JSON, invalid sampling values, a prompt longer than the context) is answered
HTTP 400 with an OpenAI error body; nothing else is disturbed.

Hostile clients get bounded, clear answers (model/http_guard.py): sampling values are checked (finite, in range;
400 naming the field), a Host header other than loopback or the served address is 421 (DNS rebinding), a body
needs a valid Content-Length (411/400) of at most MAX_BODY bytes (413), every read times out, a request must
arrive whole within REQUEST_DEADLINE seconds, and at most MAX_CONNECTIONS are served at once (503 beyond).
`/health` is 503 when the engine's loop has stopped.

The engine runs in its own thread (`EngineLoop`); request threads add sequences under its lock and read their
events from a queue, so requests arriving at any time join the running batch between two steps.
"""
from __future__ import annotations

import json
import math
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from model.errors import ModelError
from model.http_guard import (
    Deadline,
    GuardedServerMixin,
    RequestRefused,
    allowed_hosts,
    body_length,
    check_host,
    read_body,
)
from model.serve.requests import ReasoningSplitter, choice_params, parse_chat, parse_completion

if TYPE_CHECKING:  # the annotation only: the server is handed an engine, it does not build one
    from model.engine.engine import Engine


class EngineLoop:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.lock = threading.Condition()
        self.queues: dict[int, tuple[queue.Queue, int]] = {}  # sequence id -> (its request's queue, choice index)
        self.stopped = False
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self.thread.start()

    def submit(self, prompt, choices: list) -> tuple[list, queue.Queue]:
        """One sequence per SamplingParams in `choices`, all fed into one queue of (choice index, text, tokens,
        finished) -> (sequences, queue); ModelError if the engine cannot take the request (then none is added)."""
        with self.lock:
            if self.error:
                raise ModelError(f"the engine stopped: {self.error}")
            seqs = []
            try:
                for params in choices:
                    seqs.append(self.engine.add(prompt, params))
            except ModelError:
                for seq in seqs:
                    self.engine.abort(seq)
                raise
            q: queue.Queue = queue.Queue()
            for index, seq in enumerate(seqs):
                self.queues[seq.id] = (q, index)
            self.lock.notify()
        return seqs, q

    def cancel(self, seqs: list) -> None:
        with self.lock:
            for seq in seqs:
                self.engine.abort(seq)
                self.queues.pop(seq.id, None)

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.stopped and not self.engine.has_work:
                    self.lock.wait()
                if self.stopped:
                    return
                try:
                    events = self.engine.step()
                except Exception as e:  # a bug or out of memory: fail every request in flight, keep answering
                    self.error = f"{type(e).__name__}: {e}"
                    for q, index in self.queues.values():
                        q.put((index, "", [], True))
                    return
                for seq, text, tokens in events:
                    entry = self.queues.get(seq.id)
                    if entry is not None:
                        q, index = entry
                        q.put((index, text, tokens, seq.is_finished))
                        if seq.is_finished:
                            del self.queues[seq.id]

    def health(self) -> str | None:
        """None while the loop can serve; otherwise why it cannot."""
        if self.error:
            return f"the engine stopped: {self.error}"
        if not self.stopped and not self.thread.is_alive():
            return "the engine loop is not running"
        if self.stopped:
            return "the server is shutting down"
        return None

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.lock.notify()


MAX_BODY = 8 << 20  # bytes of JSON per request: far more than any context the engine holds
READ_TIMEOUT = 30.0  # seconds one read of a client's socket may wait
REQUEST_DEADLINE = 60.0  # seconds for a request's line, headers and body to arrive
MAX_CONNECTIONS = 64
MAX_STOP = 16  # stop strings per request, each at most MAX_STOP_CHARS
MAX_STOP_CHARS = 1000
SEED_RANGE = (-(1 << 63), (1 << 63) - 1 - 64)  # torch generators take 64 bits; choice i uses seed + i
LIMITS = {  # field -> (integer?, low, high, low allowed?)
    "temperature": (False, 0.0, 100.0, True),
    "top_p": (False, 0.0, 1.0, False),
    "top_k": (True, -1, 1 << 30, True),
    "max_tokens": (True, 1, 1 << 24, True),
    "max_completion_tokens": (True, 1, 1 << 24, True),
    "n": (True, 1, 64, True),
    "seed": (True, *SEED_RANGE, True),
    "presence_penalty": (False, -2.0, 2.0, True),
    "frequency_penalty": (False, -2.0, 2.0, True),
}


def check_sampling_fields(body: dict) -> None:
    """ModelError naming the first sampling field that is not a finite value in its range (a NaN, an inf, 1e-400
    read as 0 is fine, 1e400 read as inf is not), so no value can reach the sampler that would break its arithmetic."""
    for key, (integer, low, high, low_ok) in LIMITS.items():
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise ModelError(f"{key} must be {'an integer' if integer else 'a number'}, got {str(value)[:60]!r}")
        if not math.isfinite(value) or not (low <= value if low_ok else low < value) or value > high:
            bounds = f"{'[' if low_ok else '('}{low}, {high}]"
            raise ModelError(f"{key} must be a finite number in {bounds}, got {str(value)[:60]}")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    if len(stops) > MAX_STOP or any(isinstance(s, str) and len(s) > MAX_STOP_CHARS for s in stops):
        raise ModelError(f"stop takes at most {MAX_STOP} strings of at most {MAX_STOP_CHARS} characters each")


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_body(data: bytes):
    """JSON without NaN / Infinity (Python's json accepts them; they are not JSON and poison arithmetic)."""
    return json.loads(data or b"null", parse_constant=_no_constants)


def usage(seqs: list) -> dict:
    """The prompt counted once for all choices (as OpenAI does for n > 1), their completions summed."""
    prompt, completion = seqs[0].num_prompt, sum(len(seq.output) for seq in seqs)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": seqs[0].num_cached}}


def finish_reason(seq) -> str:
    return seq.finish_reason if seq.finish_reason in ("stop", "length") else "stop"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EngineServer
    timeout = READ_TIMEOUT  # every read of the socket (StreamRequestHandler applies it)

    def setup(self) -> None:
        # per connection, from the server's settings; typeshed declares timeout a class variable only
        self.timeout = self.server.read_timeout  # type: ignore[misc]
        super().setup()
        self.deadline = Deadline(self.connection, self.server.request_deadline)

    def handle_one_request(self) -> None:
        self.deadline.arm()  # until the request is read whole; disarmed before the engine works on it
        try:
            super().handle_one_request()
        finally:
            self.deadline.disarm()

    def _guard(self) -> bool:
        """Host check; answers and returns False when the request is refused."""
        try:
            check_host(self.headers.get("Host"), self.server.allowed_hosts)
        except RequestRefused as e:
            self.deadline.disarm()
            self.close_connection = True
            self._error(e.status, str(e), "misdirected_request")
            return False
        return True

    def log_message(self, format, *args):  # quiet: the CLI prints its own line per request if asked
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def do_GET(self) -> None:
        self.deadline.disarm()
        if not self._guard():
            return
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model",
                                                         "created": int(self.server.started),
                                                         "owned_by": "proofloop"}]})
        elif self.path in ("/health", "/v1/health"):
            problem = self.server.loop.health()
            if problem:
                self._send(503, {"status": "error", "error": problem})
            else:
                self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route GET {self.path}", "not_found_error")

    def do_POST(self) -> None:
        if not self._guard():
            return
        route = self.path.rstrip("/").removeprefix("/v1")
        try:
            data = read_body(self.rfile, body_length(self.headers, self.server.max_body))
        except RequestRefused as e:
            self.close_connection = True  # what is left of the body must not be read as the next request
            self._error(e.status, str(e))
            return
        except OSError:  # the read timed out, or the deadline shut the connection
            self.close_connection = True
            return
        finally:
            self.deadline.disarm()
        if route not in ("/chat/completions", "/completions"):
            self._error(404, f"no route POST {self.path}", "not_found_error")
            return
        try:
            body = parse_body(data)
            if not isinstance(body, dict):
                raise ModelError("the request body must be a JSON object")
            name = body.get("model")
            if name not in (None, "", self.server.model_name):
                self._error(404, f"model {name!r} is not served here; GET /v1/models lists {self.server.model_name!r}",
                            "not_found_error")
                return
            check_sampling_fields(body)
            chat = route == "/chat/completions"
            parse = parse_chat if chat else parse_completion
            prompt, params, stream = parse(body, self.server.backend_chat, self.server.thinking)
            seqs, events = self.server.loop.submit(prompt, choice_params(body, params))
        except ValueError as e:
            self._error(400, f"the request body is not valid JSON ({e})" if isinstance(e, json.JSONDecodeError)
                        else str(e))
            return
        except ModelError as e:
            self._error(400, str(e))
            return
        try:
            if stream:
                self._stream(seqs, events, chat, body)
            else:
                self._whole(seqs, events, chat)
        except OSError:  # the client went away or stopped reading (a write timed out)
            self.close_connection = True
            self.server.loop.cancel(seqs)

    def _wait(self, events: queue.Queue, count: int):
        """(choice index, text, tokens, finished) events until all `count` choices have finished."""
        while count:
            item = events.get()
            yield item
            count -= item[3]

    def _whole(self, seqs: list, events, chat: bool) -> None:
        for _ in self._wait(events, len(seqs)):
            pass
        if self.server.loop.error:
            self._error(500, f"the engine failed: {self.server.loop.error}", "server_error")
            return
        failed = next((seq for seq in seqs if seq.finish_reason == "error"), None)
        if failed is not None:  # this request alone; the engine serves the others
            if failed.request_fault:
                self._error(400, f"this request cannot be answered: {failed.error}", "invalid_request_error")
            else:
                self._error(500, f"the engine failed on this request: {failed.error}", "server_error")
            return
        rid, created, name = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()), self.server.model_name
        choices = []
        for index, seq in enumerate(seqs):
            if chat:
                reasoning, answer = self.server.backend_chat.parse(seq.text, thinking=self.server.thinking)
                message = {"role": "assistant", "content": answer}
                if reasoning:
                    message["reasoning_content"] = reasoning
                choices.append({"index": index, "message": message, "finish_reason": finish_reason(seq)})
            else:
                choices.append({"index": index, "text": seq.text, "finish_reason": finish_reason(seq)})
        self._send(200, {"id": rid, "object": "chat.completion" if chat else "text_completion", "created": created,
                         "model": name, "choices": choices, "usage": usage(seqs)})

    def _stream(self, seqs: list, events, chat: bool, body: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        rid, created, name = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()), self.server.model_name
        obj = "chat.completion.chunk" if chat else "text_completion"

        def send(choices: list, extra: dict | None = None) -> None:
            chunk = {"id": rid, "object": obj, "created": created, "model": name, "choices": choices, **(extra or {})}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()

        splitters = [ReasoningSplitter(self.server.backend_chat, self.server.thinking) for _ in seqs] if chat else []
        if chat:
            for index in range(len(seqs)):
                send([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for index, text, _, finished in self._wait(events, len(seqs)):
            if chat:
                for key, piece in splitters[index].feed(text, final=finished):
                    send([{"index": index, "delta": {key: piece}, "finish_reason": None}])
            elif text:
                send([{"index": index, "text": text, "finish_reason": None}])
            if finished and seqs[index].finish_reason == "error":
                self.wfile.write(b"data: " + json.dumps({"error": {"message": f"the engine failed on this request: "
                                                                  f"{seqs[index].error}", "type": "server_error",
                                                                  "code": 500}}).encode() + b"\n\n")
            if finished:  # this choice's last chunk; the others may still be running
                send([{"index": index, "finish_reason": finish_reason(seqs[index]),
                       **({"delta": {}} if chat else {"text": ""})}])
        if (body.get("stream_options") or {}).get("include_usage"):
            send([], {"usage": usage(seqs)})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class EngineServer(GuardedServerMixin, ThreadingHTTPServer):
    """serve_forever() in the caller's thread, or `with EngineServer(...) as s:` to run it in a background thread.
    allow_hosts: Host names answered besides loopback and `host` ('*': any)."""
    daemon_threads = True
    max_connections = MAX_CONNECTIONS
    max_body, read_timeout, request_deadline = MAX_BODY, READ_TIMEOUT, REQUEST_DEADLINE

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
                 thinking: bool = True, verbose: bool = False, allow_hosts: tuple[str, ...] = ()):
        from model.engine.chat import ChatFormat

        super().__init__((host, port), Handler)
        self.allowed_hosts = allowed_hosts(host, allow_hosts)
        self.engine, self.thinking, self.verbose = engine, thinking, verbose
        self.model_name = model_name or engine.path.name
        self.backend_chat = ChatFormat.from_checkpoint(engine.path, engine.model.config.model_type)
        self.loop = EngineLoop(engine)
        self.started = time.time()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.socket.getsockname()[:2]  # = server_address, whose type also allows bytes (AF_UNIX)
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> EngineServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
        self.loop.stop()
