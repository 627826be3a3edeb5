"""An OpenAI-compatible HTTP server over the engine (stdlib http.server; one engine thread, one thread per client).

    GET  /v1/models               the served model
    POST /v1/chat/completions     messages -> the checkpoint's chat encoding; reasoning in `reasoning_content`
    POST /v1/completions          a prompt string (or token ids) continued as is
Both POST routes stream server-sent events with `"stream": true` (usage in a last chunk with
`stream_options.include_usage`). Usage reports `prompt_tokens_details.cached_tokens`, the prompt tokens found in the
prefix cache. A request the engine cannot run (bad JSON, invalid sampling values, a prompt longer than the context)
is answered HTTP 400 with an OpenAI error body; nothing else is disturbed.

The engine runs in its own thread (`EngineLoop`); request threads add sequences under its lock and read their
events from a queue, so requests arriving at any time join the running batch between two steps.
"""
from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from model.errors import ModelError
from model.requests import ReasoningSplitter, parse_chat, parse_completion


class EngineLoop:
    def __init__(self, engine):
        self.engine = engine
        self.lock = threading.Condition()
        self.queues: dict[int, queue.Queue] = {}
        self.stopped = False
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self.thread.start()

    def submit(self, prompt, params):
        """-> (sequence, queue of (text, tokens, finished)); ModelError if the engine cannot take the request."""
        with self.lock:
            if self.error:
                raise ModelError(f"the engine stopped: {self.error}")
            seq = self.engine.add(prompt, params)
            q: queue.Queue = queue.Queue()
            self.queues[seq.id] = q
            self.lock.notify()
        return seq, q

    def cancel(self, seq) -> None:
        with self.lock:
            self.engine.abort(seq)
            self.queues.pop(seq.id, None)

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.stopped and self.engine.scheduler.idle:
                    self.lock.wait()
                if self.stopped:
                    return
                try:
                    events = self.engine.step()
                except Exception as e:  # a bug or out of memory: fail every request in flight, keep answering
                    self.error = f"{type(e).__name__}: {e}"
                    for q in self.queues.values():
                        q.put(("", [], True))
                    return
                for seq, text, tokens in events:
                    q = self.queues.get(seq.id)
                    if q is not None:
                        q.put((text, tokens, seq.is_finished))
                        if seq.is_finished:
                            del self.queues[seq.id]

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.lock.notify()


def usage(seq) -> dict:
    return {"prompt_tokens": seq.num_prompt, "completion_tokens": len(seq.output),
            "total_tokens": seq.num_prompt + len(seq.output),
            "prompt_tokens_details": {"cached_tokens": seq.num_cached}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "EngineServer"

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
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model",
                                                         "created": int(self.server.started),
                                                         "owned_by": "proofloop"}]})
        elif self.path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route GET {self.path}", "not_found_error")

    def do_POST(self) -> None:
        route = self.path.rstrip("/").removeprefix("/v1")
        if route not in ("/chat/completions", "/completions"):
            self._error(404, f"no route POST {self.path}", "not_found_error")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(body, dict):
                raise ModelError("the request body must be a JSON object")
            name = body.get("model")
            if name not in (None, "", self.server.model_name):
                self._error(404, f"model {name!r} is not served here; GET /v1/models lists {self.server.model_name!r}",
                            "not_found_error")
                return
            chat = route == "/chat/completions"
            parse = parse_chat if chat else parse_completion
            prompt, params, stream = parse(body, self.server.backend_chat, self.server.thinking)
            seq, events = self.server.loop.submit(prompt, params)
        except ValueError as e:
            self._error(400, f"the request body is not valid JSON ({e})" if isinstance(e, json.JSONDecodeError)
                        else str(e))
            return
        except ModelError as e:
            self._error(400, str(e))
            return
        try:
            if stream:
                self._stream(seq, events, chat, body)
            else:
                self._whole(seq, events, chat)
        except (BrokenPipeError, ConnectionResetError):
            self.server.loop.cancel(seq)

    def _wait(self, events: queue.Queue):
        while True:
            item = events.get()
            yield item
            if item[2]:
                return

    def _whole(self, seq, events, chat: bool) -> None:
        for _ in self._wait(events):
            pass
        if self.server.loop.error:
            self._error(500, f"the engine failed: {self.server.loop.error}", "server_error")
            return
        rid, created, name = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()), self.server.model_name
        reason = seq.finish_reason if seq.finish_reason in ("stop", "length") else "stop"
        if chat:
            reasoning, answer = self.server.backend_chat.parse(seq.text, thinking=self.server.thinking)
            message = {"role": "assistant", "content": answer}
            if reasoning:
                message["reasoning_content"] = reasoning
            choice = {"index": 0, "message": message, "finish_reason": reason}
            obj = "chat.completion"
        else:
            choice, obj = {"index": 0, "text": seq.text, "finish_reason": reason}, "text_completion"
        self._send(200, {"id": rid, "object": obj, "created": created, "model": name, "choices": [choice],
                         "usage": usage(seq)})

    def _stream(self, seq, events, chat: bool, body: dict) -> None:
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

        splitter = ReasoningSplitter(self.server.backend_chat, self.server.thinking) if chat else None
        if chat:
            send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for text, _, finished in self._wait(events):
            if chat:
                for key, piece in splitter.feed(text, final=finished):
                    send([{"index": 0, "delta": {key: piece}, "finish_reason": None}])
            elif text:
                send([{"index": 0, "text": text, "finish_reason": None}])
        reason = seq.finish_reason if seq.finish_reason in ("stop", "length") else "stop"
        last = {"index": 0, "finish_reason": reason, **({"delta": {}} if chat else {"text": ""})}
        send([last])
        if (body.get("stream_options") or {}).get("include_usage"):
            send([], {"usage": usage(seq)})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class EngineServer(ThreadingHTTPServer):
    """serve_forever() in the caller's thread, or `with EngineServer(...) as s:` to run it in a background thread."""
    daemon_threads = True

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
                 thinking: bool = True, verbose: bool = False):
        from model.chat import ChatFormat

        super().__init__((host, port), Handler)
        self.engine, self.thinking, self.verbose = engine, thinking, verbose
        self.model_name = model_name or engine.path.name
        self.backend_chat = ChatFormat.from_checkpoint(engine.path, engine.model.config.model_type)
        self.loop = EngineLoop(engine)
        self.started = time.time()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "EngineServer":
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
        self.loop.stop()
