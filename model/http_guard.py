"""Guards shared by proofloop's two HTTP servers (the engine's API and the run browser) against hostile clients.

- Host: a web page can make a browser send requests to 127.0.0.1 under its own name (DNS rebinding); only the
  loopback names, the address the server was started on and names allowed on the command line are answered.
- Connections: at most `max_connections` are served at once; one more is answered 503 and closed, so idle or
  half-open connections cannot pile up threads.
- Time: every read waits at most `read_timeout` seconds, and a request (line, headers, body) must arrive within
  `request_deadline` seconds, so a client sending one byte at a time cannot hold a thread.
- Body: Content-Length is required for a body, must be a plain number, and at most `max_body` bytes.
"""
from __future__ import annotations

import socket
import threading

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})


class RequestRefused(Exception):
    """A request answered with `status` before it reaches a route; the message says what to do."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def host_name(header: str) -> str:
    """'Example.COM:8000' -> 'example.com', '[::1]:80' -> '::1'; the port and a trailing dot are dropped."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit():
        value = name
    return value.rstrip(".")


def allowed_hosts(bound: str, extra: tuple[str, ...] | list[str] = ()) -> frozenset[str]:
    """The Host names answered: loopback, the bound address (unless it is the any-address) and `extra` ('*': any)."""
    names = set(LOOPBACK_NAMES) | {host_name(h) for h in extra}
    if bound not in ANY_ADDRESS:
        names.add(host_name(bound))
    return frozenset(names)


def check_host(header: str | None, allowed: frozenset[str]) -> None:
    """RequestRefused(421) for a Host header naming another server. A request without Host (HTTP/1.0 tools) passes:
    browsers always send one, so it cannot come from a rebinding page."""
    if header is None or "*" in allowed:
        return
    name = host_name(header)
    if name not in allowed:
        raise RequestRefused(421, f"Host {name[:100]!r} is not served here (DNS rebinding guard); use "
                                  f"http://127.0.0.1 or start the server with --allow-host {name[:100]}")


def body_length(headers, max_body: int) -> int:
    """The Content-Length of a request that must carry a body, checked; RequestRefused(400/411/413) otherwise."""
    if headers.get("Transfer-Encoding"):
        raise RequestRefused(411, "chunked request bodies are not accepted; send Content-Length")
    raw = headers.get("Content-Length")
    if raw is None:
        raise RequestRefused(411, "Content-Length is required for a request body")
    raw = raw.strip()
    if not raw.isdigit() or not raw.isascii():
        raise RequestRefused(400, f"Content-Length must be a non-negative whole number, got {raw[:40]!r}")
    length = int(raw)
    if length > max_body:
        raise RequestRefused(413, f"the request body is {length} bytes; at most {max_body} are accepted")
    return length


def read_body(rfile, length: int) -> bytes:
    """Exactly `length` bytes, or RequestRefused(400) when the client closes early (the socket's timeouts bound the
    wait)."""
    data = rfile.read(length)
    if len(data) < length:
        raise RequestRefused(400, f"the request body ended after {len(data)} of {length} bytes")
    return data


class Deadline:
    """Shuts a connection's socket down `seconds` after arm() unless disarm() comes first: a blocked read then
    returns at once, and the handler thread ends."""

    def __init__(self, sock: socket.socket, seconds: float):
        self.sock, self.seconds = sock, seconds
        self._timer: threading.Timer | None = None
        self.expired = False

    def arm(self) -> None:
        self.disarm()
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self.expired = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class GuardedServerMixin:
    """For a ThreadingHTTPServer subclass: at most `max_connections` handler threads; the rest get 503."""

    max_connections = 64

    def _slots(self) -> threading.BoundedSemaphore:
        slots = getattr(self, "_connection_slots", None)
        if slots is None:
            slots = self._connection_slots = threading.BoundedSemaphore(self.max_connections)
        return slots

    def process_request(self, request, client_address):
        if not self._slots().acquire(blocking=False):
            busy_answer(request, self.max_connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots().release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots().release()


def busy_answer(sock: socket.socket, limit: int) -> None:
    body = (b'{"error": {"message": "the server is serving its limit of %d connections; retry later", '
            b'"type": "server_busy", "code": 503}}' % limit)
    head = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    try:
        sock.settimeout(1.0)
        sock.sendall(head + body)
    except OSError:
        pass
