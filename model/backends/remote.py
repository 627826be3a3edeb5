"""RemoteBackend: text generation from any OpenAI-compatible `/v1/chat/completions` server.

vLLM, SGLang, DeepSeek's API and the engine's own server all speak this protocol; pointing proofloop at one of them
is how a user outgrows one machine. Stdlib only: one HTTP connection per attempt (http.client), a pool of threads
bounded by `concurrency`, streaming (server-sent events) or plain JSON responses.

Failures never escape a batch: a call that cannot succeed comes back as a Completion with finish_reason "error"
and a message naming the endpoint and the cause. Transient failures (HTTP 429 and 5xx, refused or dropped
connections, timeouts) are retried with exponential backoff and jitter, honouring Retry-After; other 4xx answers
and bodies that are not the protocol (HTML, plain text) are not, since asking again would get the same answer.

Reasoning is kept apart from the answer: servers with a reasoning parser send it as `reasoning_content` (vLLM,
SGLang, DeepSeek) or `reasoning` (newer vLLM, OpenRouter); servers without one leave `<think>...</think>` inside
the content, which is split here.

Hostile or broken servers are bounded: `timeout` is a deadline for each attempt as a whole (a server that sends
one byte a second, or keep-alive comments forever, is cut off at the deadline, not only one that goes silent),
an answer larger than `max_response_bytes` is refused, and a 200 whose JSON body stops before its end (the
connection dropped) is retried.
"""
from __future__ import annotations

import email.utils
import functools
import http.client
import json
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from model.backends.backend import Completion, OnResult, OnTokens, Request
from model.errors import ModelError
from model.reasoning import split_reasoning

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 << 20  # the most an answer may hold: far above any completion, well below the memory
MAX_DELAY = 60.0  # longest wait between two attempts, whatever backoff or Retry-After say
USER_AGENT = "proofloop/0.1"
NO_ENDPOINT = "no endpoint: pass --endpoint URL or set PROOFLOOP_ENDPOINT (e.g. http://localhost:8000/v1)"


class _Retry(Exception):
    """A failure worth another attempt; retry_after is the server's own wish, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Fail(Exception):
    """A failure that another attempt would repeat; the message becomes the completion's error."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status, when the server answered with one


# How a request's answer shape (Sampling.structure) is sent: OpenAI's response_format with the JSON schema (the
# answer is then JSON, which verifier.shapes.answer_text reads), or the grammar itself in vLLM's or SGLang's field.
STRUCTURED_FIELDS = ("response_format", "vllm", "sglang")
REFUSED = (400, 422)  # a server that does not take the field answers one of these: the request goes again without it


# --- pure helpers -------------------------------------------------------------------------------------------------

def normalise_endpoint(endpoint: str) -> str:
    """'host:8000', 'http://host:8000', '.../v1/', '.../v1/chat/completions' -> 'http://host:8000/v1'."""
    url = (endpoint or "").strip()
    if not url:
        raise ModelError(NO_ENDPOINT)
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(f"endpoint {endpoint!r} is not an http(s) URL: use e.g. http://localhost:8000/v1")
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/models"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if not re.search(r"/v\d+$", path):
        path += "/v1"
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{path}"  # user:password@ dropped: never shown, never sent


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (an integer, a decimal, or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(body: bytes) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}}, vLLM's {"message"}, FastAPI's {"detail"}."""
    text = body.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return _describe(body)
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if err.get(key):
                    return " ".join(str(err[key]).split())[:500]
        elif err:
            return " ".join(str(err).split())[:500]
    return " ".join(text.split())[:500]


def _describe(body: bytes) -> str:
    """A short description of a body that is not what was expected."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "an empty body"
    if text.startswith("<"):
        return "an HTML page" + (f" ({_html_title(text)})" if _html_title(text) else "")
    snippet = " ".join(text[:80].split())
    return f"non-JSON text starting {snippet!r}"


def _html_title(text: str) -> str:
    m = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    return " ".join(m.group(1).split())[:80] if m else ""


def _usage(usage: dict | None) -> tuple[int, int, int]:
    """(prompt, cached, completion) tokens; DeepSeek's API reports cache hits as prompt_cache_hit_tokens."""
    if not isinstance(usage, dict):
        return 0, 0, 0
    details = usage.get("prompt_tokens_details")
    cached = (details.get("cached_tokens") if isinstance(details, dict) else 0) or usage.get("prompt_cache_hit_tokens")
    return int(usage.get("prompt_tokens") or 0), int(cached or 0), int(usage.get("completion_tokens") or 0)


def _reasoning_of(part: dict) -> str:
    return part.get("reasoning_content") or part.get("reasoning") or ""


def _why(exc: BaseException) -> str:
    """A few words for a connection failure."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection dropped mid-response"
    return str(exc) or type(exc).__name__


# --- the backend --------------------------------------------------------------------------------------------------

class RemoteBackend:
    """Chat completions from an OpenAI-compatible server.

    endpoint: base URL (`http://host:8000`, `.../v1`); model: the served model's name (None: the first one the
    server lists); timeout: seconds without a byte from the server before an attempt is abandoned (streaming: between
    two chunks; non-streaming: for the whole answer, so raise it for long generations); connect_timeout: seconds to
    open the connection; retries: further attempts after the first; backoff: first wait in seconds, doubled each time.
    timeout is also the deadline of each attempt as a whole: an answer not complete by then is abandoned (and retried).
    """
    max_response_bytes = MAX_RESPONSE_BYTES

    def __init__(self, endpoint: str, model: str | None, api_key: str | None = None, concurrency: int = 8,
                 timeout: float = 600, connect_timeout: float = 10, retries: int = 5, backoff: float = 1.0,
                 stream: bool = True, structured_field: str = "response_format"):
        self.base_url = normalise_endpoint(endpoint)
        if structured_field not in STRUCTURED_FIELDS:
            raise ModelError(f"structured field {structured_field!r} is not one of {', '.join(STRUCTURED_FIELDS)} "
                             "(PROOFLOOP_STRUCTURED_FIELD)")
        self.structured_field = structured_field
        self.shapes_refused = False  # set once the server refuses a shape: later requests go as free text
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        assert parts.hostname, "normalise_endpoint returns only URLs with a host"
        self._host: str = parts.hostname
        self._port, self._path = parts.port, parts.path
        self.model = model or None
        self._api_key = api_key or None
        if concurrency < 1:
            raise ModelError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.timeout, self.connect_timeout = float(timeout), float(connect_timeout)
        self.retries, self.backoff, self.stream = max(0, int(retries)), float(backoff), stream
        self._slots = threading.BoundedSemaphore(concurrency)  # shared by concurrent generate() calls
        self._model_lock = threading.Lock()

    @classmethod
    def from_env(cls, endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
                 **options) -> RemoteBackend:
        """Arguments first, then PROOFLOOP_ENDPOINT / OPENAI_BASE_URL, PROOFLOOP_MODEL, PROOFLOOP_API_KEY /
        OPENAI_API_KEY. Without a model name the server is asked (`/v1/models`) and its first model is used."""
        env = os.environ
        endpoint = endpoint or env.get("PROOFLOOP_ENDPOINT") or env.get("OPENAI_BASE_URL")
        if not endpoint:
            raise ModelError(NO_ENDPOINT)
        options.setdefault("structured_field", env.get("PROOFLOOP_STRUCTURED_FIELD") or "response_format")
        backend = cls(endpoint, model or env.get("PROOFLOOP_MODEL"),
                      api_key or env.get("PROOFLOOP_API_KEY") or env.get("OPENAI_API_KEY"), **options)
        backend._resolve_model()
        return backend

    @property
    def name(self) -> str:
        return f"{self.model or '?'}@{self.base_url}"

    def __repr__(self) -> str:
        key = ", api_key=***" if self._api_key else ""
        return f"RemoteBackend({self.base_url!r}, model={self.model!r}{key}, concurrency={self.concurrency})"

    # --- checking the endpoint ---

    def check(self) -> list[str]:
        """Ask `/v1/models` once; the served model names, or ModelError with one line saying what to do."""
        url = self.base_url + "/models"
        read_timeout = min(self.timeout, 30.0)
        try:
            conn = self._connect(read_timeout)
            try:
                conn.request("GET", self._path + "/models", headers=self._headers(json_body=False))
                resp = conn.getresponse()
                status, body = resp.status, resp.read(self.max_response_bytes)
            finally:
                conn.close()
        except TimeoutError:
            raise ModelError(f"{url} did not answer within {read_timeout:g}s: check that the server is up and "
                             "--endpoint points at it") from None
        except (OSError, http.client.HTTPException) as e:
            raise ModelError(f"cannot reach {self.base_url} ({_why(e)}): start the server or fix --endpoint / "
                             "PROOFLOOP_ENDPOINT") from None
        if status in (401, 403):
            given = "the API key was refused" if self._api_key else "no API key was given"
            raise ModelError(f"{url} answered HTTP {status} ({given}): set --api-key or PROOFLOOP_API_KEY")
        if status == 404:
            raise ModelError(f"{url} answered HTTP 404: point --endpoint at the server's OpenAI base URL, "
                             "e.g. http://localhost:8000/v1")
        if status != 200:
            raise ModelError(f"{url} answered HTTP {status}: {_server_message(body)}")
        try:
            return [str(m["id"]) for m in json.loads(body)["data"]]
        except (ValueError, KeyError, TypeError):
            raise ModelError(f"{url} returned {_describe(body) if not _is_json(body) else 'JSON without a model list'}"
                             ", not an OpenAI model list: point --endpoint at an OpenAI-compatible server "
                             "(vLLM, SGLang), e.g. http://localhost:8000/v1") from None

    def _resolve_model(self) -> str:
        with self._model_lock:
            if not self.model:
                models = self.check()
                if not models:
                    raise ModelError(f"{self.base_url} serves no models: pass --model NAME or set PROOFLOOP_MODEL")
                self.model = models[0]
            return self.model

    # --- generation ---

    def generate(self, requests: list[Request], on_result: OnResult | None = None, *,
                 on_tokens: OnTokens | None = None) -> list[Completion]:
        """Run all requests, at most `concurrency` at a time; results in request order.

        on_result(index, completion) is called once per request as it finishes, from a worker thread. An exception
        raised by on_result stops the batch from starting new calls and is raised here once the calls in flight end.
        on_tokens(index, n) is called as a streamed answer arrives (one per chunk with text, or the chunk's count
        when the server says it); a non-streamed answer reports nothing before its on_result.
        """
        if not requests:
            return []
        self._resolve_model()
        results: list[Completion | None] = [None] * len(requests)
        pending = iter(range(len(requests)))
        lock, abort, raised = threading.Lock(), threading.Event(), []

        def work() -> None:
            while not abort.is_set():
                with lock:
                    i = next(pending, None)
                if i is None:
                    return
                with self._slots:
                    tokens = None if on_tokens is None else functools.partial(on_tokens, i)
                    completion = self._call(requests[i], abort, tokens)
                results[i] = completion
                if on_result is not None:
                    try:
                        on_result(i, completion)
                    except BaseException as e:  # the caller's bug or its KeyboardInterrupt: stop, re-raise below
                        raised.append(e)
                        abort.set()

        threads = [threading.Thread(target=work, name=f"remote-{k}", daemon=True)
                   for k in range(min(self.concurrency, len(requests)))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except BaseException:
            abort.set()  # Ctrl-C: no new calls; daemon threads do not hold up the exit
            raise
        if raised:
            raise raised[0]
        return results  # type: ignore[return-value]

    def payload(self, request: Request) -> dict:
        """The JSON body sent for a request."""
        s = request.sampling
        body: dict = {"model": self.model, "messages": list(request.messages), "temperature": s.temperature,
                      "top_p": s.top_p, "max_tokens": s.max_tokens}
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        if s.top_k:
            body["top_k"] = s.top_k
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if s.structure is not None and not self.shapes_refused:
            body.update(self._shape_fields(s.structure))
        return body

    def _shape_fields(self, shape) -> dict:
        if self.structured_field == "vllm":
            return {"structured_outputs": {"grammar": shape.ebnf}}
        if self.structured_field == "sglang":
            return {"ebnf": shape.ebnf}
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": shape.name or "answer", "schema": json.loads(shape.json_schema), "strict": True}}}

    def _refuse_shapes(self, why: str) -> None:
        """The server does not take the answer shape: say so once, then send every request as free text."""
        with self._model_lock:
            if self.shapes_refused:
                return
            self.shapes_refused = True
        log.warning("%s refused the answer shape (%s field): %s; sending free text from now on (answers are read as "
                    "free text)", self.base_url, self.structured_field, why)

    def _call(self, request: Request, abort: threading.Event,
              on_tokens: Callable[[int], None] | None = None) -> Completion:
        """One request with its retries; never raises. seconds covers all attempts and the waits between them."""
        start = time.monotonic()
        attempts, last = 0, "not started"
        try:
            shaped = request.sampling.structure is not None and not self.shapes_refused
            body = json.dumps(self.payload(request)).encode()
            while True:
                attempts += 1
                try:
                    completion = self._attempt(body, on_tokens)
                    completion.seconds = time.monotonic() - start
                    return completion
                except _Fail as e:
                    if not (shaped and e.status in REFUSED):
                        return self._error(str(e), start)
                    self._refuse_shapes(str(e))  # not a failed call: the same request again, as free text
                    shaped, attempts = False, attempts - 1
                    body = json.dumps(self.payload(request)).encode()
                except _Retry as e:
                    last = str(e)
                    if attempts > self.retries or abort.is_set():
                        break
                    delay = e.retry_after if e.retry_after is not None else \
                        self.backoff * 2 ** (attempts - 1) * random.uniform(0.5, 1.0)
                    delay = min(delay, MAX_DELAY)
                    log.info("%s: %s; attempt %d of %d in %.2fs", self.base_url, last, attempts + 1,
                             self.retries + 1, delay)
                    if abort.wait(delay):
                        break
            return self._error(f"{last} (gave up after {attempts} attempt{'s' * (attempts > 1)})", start)
        except Exception as e:  # a bug here must still not break the batch
            log.exception("unexpected failure calling %s", self.base_url)
            return self._error(f"unexpected {type(e).__name__} calling {self.base_url}: {e}", start)

    @staticmethod
    def _error(message: str, start: float) -> Completion:
        return Completion(text="", finish_reason="error", error=message, seconds=time.monotonic() - start)

    def _attempt(self, body: bytes, on_tokens: Callable[[int], None] | None = None) -> Completion:
        url = self.base_url + "/chat/completions"
        try:
            conn = self._connect(self.timeout)
        except ssl.SSLCertVerificationError as e:
            raise _Fail(f"TLS certificate of {self.base_url} not accepted ({e.verify_message}): fix the endpoint or "
                        "its certificate (SSL_CERT_FILE)") from None
        except TimeoutError:
            raise _Retry(f"could not connect to {self.base_url} within {self.connect_timeout:g}s") from None
        except OSError as e:
            raise _Retry(f"cannot reach {self.base_url} ({_why(e)})") from None
        deadline = _Deadline(conn, self.timeout)
        try:
            conn.request("POST", self._path + "/chat/completions", body=body, headers=self._headers(json_body=True))
            resp = conn.getresponse()
            if not 200 <= resp.status < 300:
                message = f"HTTP {resp.status} from {url}: {_server_message(resp.read(65536))}"
                if resp.status == 429 or resp.status >= 500:
                    raise _Retry(message, parse_retry_after(resp.getheader("Retry-After")))
                if resp.status in (401, 403):
                    message += " (set --api-key or PROOFLOOP_API_KEY)"
                raise _Fail(message, resp.status)
            if "text/event-stream" in (resp.getheader("Content-Type") or ""):
                completion = self._read_stream(resp, url, on_tokens)
            else:
                completion = self._read_json(self._read_capped(resp, url), url)
            if deadline.expired:
                raise _Retry(f"{url} did not complete its answer within the {self.timeout:g}s deadline")
            return completion
        except (_Retry, _Fail):  # what a cut-off answer looks like (half a chunk, no end) is the deadline's doing
            if deadline.expired:
                raise _Retry(f"{url} did not complete its answer within the {self.timeout:g}s deadline") from None
            raise
        except TimeoutError:
            raise _Retry(f"no answer from {url} for {self.timeout:g}s") from None
        except (OSError, http.client.HTTPException) as e:
            if deadline.expired:
                raise _Retry(f"{url} did not complete its answer within the {self.timeout:g}s deadline") from None
            raise _Retry(f"connection to {url} failed ({_why(e)})") from None
        finally:
            deadline.cancel()
            conn.close()

    def _read_capped(self, resp: http.client.HTTPResponse, url: str) -> bytes:
        """The whole body, or _Fail when it is (or says it is) larger than max_response_bytes."""
        cap = self.max_response_bytes
        declared = resp.getheader("Content-Length") or ""
        if declared.strip().isdigit() and int(declared) > cap:
            raise _Fail(f"{url} announced an answer of {int(declared)} bytes; at most {cap} are accepted")
        raw = resp.read(cap + 1)
        if len(raw) > cap:
            raise _Fail(f"{url} sent an answer larger than {cap} bytes; refused")
        return raw

    def _read_json(self, raw: bytes, url: str) -> Completion:
        try:
            obj = json.loads(raw)
        except ValueError:
            if _cut_json(raw):
                raise _Retry(f"{url} sent a JSON answer that stops before its end ({len(raw)} bytes; the "
                             "connection dropped)") from None
            raise _Fail(f"{url} returned {_describe(raw)} instead of a chat completion: is --endpoint an "
                        "OpenAI-compatible API?") from None
        try:
            if obj.get("error"):
                raise _Fail(f"{url} answered with an error: {_server_message(raw)}")
            choice = obj["choices"][0]
            message = choice.get("message") or {}
            content, reasoning = message.get("content") or "", _reasoning_of(message)
            finish = choice.get("finish_reason")
        except (AttributeError, KeyError, IndexError, TypeError):
            raise _Fail(f"{url} returned JSON that is not a chat completion (no choices[0].message)") from None
        return self._completion(content, reasoning, finish, obj.get("usage"))

    def _read_stream(self, resp: http.client.HTTPResponse, url: str,
                     on_tokens: Callable[[int], None] | None = None) -> Completion:
        """Server-sent events: `data: {chunk}` lines, events separated by a blank line, ending with `data: [DONE]`."""
        content: list[str] = []
        reasoning: list[str] = []
        finish, usage, done = None, None, False
        data: list[str] = []

        def dispatch(event: str) -> bool:
            nonlocal finish, usage
            if event.strip() == "[DONE]":
                return True
            try:
                chunk = json.loads(event)
            except ValueError:
                raise _Fail(f"{url} streamed {_describe(event.encode())} instead of a JSON chunk: is --endpoint an "
                            "OpenAI-compatible API?") from None
            if not isinstance(chunk, dict):
                raise _Fail(f"{url} streamed a chunk that is not a JSON object")
            if chunk.get("error"):
                raise _Retry(f"{url} reported an error mid-stream: {_server_message(event.encode())}")
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                content.append(delta.get("content") or "")
                reasoning.append(_reasoning_of(delta))
                if on_tokens is not None and (content[-1] or reasoning[-1]):
                    on_tokens(1)  # servers stream about one token per chunk; usage gives the exact count at the end
                finish = choice.get("finish_reason") or finish
            usage = chunk.get("usage") or usage
            return False

        cap, total = self.max_response_bytes, 0
        for raw in iter(lambda: resp.readline(cap + 1), b""):
            total += len(raw)
            if total > cap:
                raise _Fail(f"{url} streamed more than {cap} bytes; refused")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith(":"):  # an SSE comment (keep-alive)
                continue
            if line:
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value[1:] if value.startswith(" ") else value)
                continue
            if data:
                done = dispatch("\n".join(data))
                data = []
                if done:
                    break
        if data and not done:
            done = dispatch("\n".join(data))
        if not done and finish is None:
            raise _Retry(f"the stream from {url} ended before the completion did (connection dropped)")
        return self._completion("".join(content), "".join(reasoning), finish, usage)

    @staticmethod
    def _completion(content: str, reasoning: str, finish: str | None, usage: dict | None) -> Completion:
        finish = finish or "stop"
        inline, text = split_reasoning(content, cut_off=finish == "length")
        reasoning = "\n".join(r for r in (reasoning.strip(), inline) if r)
        prompt, cached, completion = _usage(usage)
        return Completion(text=text.lstrip() if reasoning else text, reasoning=reasoning,
                          finish_reason=finish, prompt_tokens=prompt, cached_tokens=cached,
                          completion_tokens=completion)

    # --- HTTP plumbing ---

    def _connect(self, read_timeout: float) -> http.client.HTTPConnection:
        """An open connection: connect_timeout to open it, then read_timeout for every wait on the server."""
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.connect_timeout,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout)
        conn.connect()
        conn.sock.settimeout(read_timeout)
        return conn

    def _headers(self, json_body: bool) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "text/event-stream, application/json"}
        if json_body:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers


def _cut_json(raw: bytes) -> bool:
    """A body that starts as a JSON object or list and stops before its closing bracket: a dropped connection."""
    text = raw.strip()
    return text[:1] in (b"{", b"[") and text[-1:] not in (b"}", b"]")


class _Deadline:
    """Shuts the connection's socket down after `seconds`: a read blocked on a server that drips bytes (each in
    time for the per-read timeout) returns then, and the attempt ends."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float):
        self.expired = False
        self._sock = conn.sock
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        self._timer.cancel()


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
        return True
    except ValueError:
        return False
