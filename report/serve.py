"""`proofloop serve`: browse run reports over HTTP on loopback, read-only.

Only two kinds of address exist: `/` (the list of runs) and `/run/<n>/` (the report of the n-th run given on the
command line). Nothing is read from disk by a path taken from the request, so no file outside (or inside) the run
directories can be reached by crafting one; every other address is a 404. A run still in progress is re-rendered
on each request and its page reloads itself every few seconds.

Only requests whose Host is a loopback name, the bound address or a name given with --allow-host are answered
(421 otherwise), so a web page cannot reach the reports through DNS rebinding; idle and slow connections time out
and at most MAX_CONNECTIONS are served at once (model/http_guard.py).
"""
from __future__ import annotations

import html
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ledger.errors import RunError
from ledger.store import DB_NAME, RUNNING, RunStore
from model.http_guard import Deadline, GuardedServerMixin, RequestRefused, allowed_hosts, check_host
from report.build import SCRIPT_HASH, page, render_run
from report.markup import Renderer

RUN_PATH = re.compile(r"^/run/(\d{1,6})/?$")
SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'; "
                               "img-src data:; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
READ_TIMEOUT = 30.0  # seconds one read of a client's socket may wait
REQUEST_DEADLINE = 60.0  # seconds for a request's line and headers to arrive
MAX_CONNECTIONS = 32


class Runs:
    """The run directories given on the command line, and a cache of rendered reports keyed by file times."""

    def __init__(self, dirs: list[Path], refresh: int):
        self.dirs = [Path(d).resolve() for d in dirs]
        self.refresh = refresh
        self._cache: dict[int, tuple[tuple, str]] = {}
        self._lock = threading.Lock()

    def stamp(self, i: int) -> tuple:
        d = self.dirs[i]
        return tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None
                     for p in (d / DB_NAME, d / f"{DB_NAME}-wal"))

    def report(self, i: int) -> str:
        stamp = self.stamp(i)
        with self._lock:
            hit = self._cache.get(i)
        if hit and hit[0] == stamp:
            return hit[1]
        text, _ = render_run(self.dirs[i], refresh=self.refresh, crumbs=[("/", "all runs")])
        with self._lock:
            self._cache[i] = (stamp, text)
        return text

    def index(self) -> str:
        rows = []
        for i, d in enumerate(self.dirs):
            row: dict[str, Any] = {"href": f"/run/{i}/", "name": d.name, "kind": "?", "subject": "",
                                   "status": "unreadable", "calls": 0, "tokens": 0}
            try:
                store = RunStore.open(d)
                try:
                    config = store.meta("config") or {}
                    row["kind"] = config.get("kind", "prove")
                    row["subject"] = (config.get("problem") or {}).get("id") or config.get("input") or ""
                    if row["kind"] == "grade":
                        row["subject"] += f" ({config.get('n', '?')} proofs)"
                    row["status"] = store.meta("status", "?")
                    stats = store.call_stats()
                    row["calls"] = sum(n for by in stats["calls"].values() for n in by.values())
                    row["tokens"] = sum(t["prompt"] + t["completion"] for t in stats["tokens"].values())
                finally:
                    store.close()
            except RunError as e:
                row["status"] = f"unreadable: {e}"
            rows.append(row)
        running = any(r["status"] == RUNNING for r in rows)
        return page("index.html.j2", Renderer(), "proofloop runs", self.refresh if running else None, runs=rows)


class Handler(BaseHTTPRequestHandler):
    server_version = "proofloop"
    sys_version = ""
    runs: Runs  # set on the subclass made by make_server
    allowed: frozenset[str]  # Host names answered; set there too
    timeout = READ_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self.deadline = Deadline(self.connection, REQUEST_DEADLINE)

    def handle_one_request(self) -> None:
        self.deadline.arm()
        try:
            super().handle_one_request()
        finally:
            self.deadline.disarm()

    def log_message(self, format: str, *args: object) -> None:  # quiet; the terminal shows only the address
        pass

    def do_HEAD(self) -> None:
        self._get(head=True)

    def do_GET(self) -> None:
        self._get(head=False)

    def _refuse(self) -> None:
        self.deadline.disarm()
        self.close_connection = True  # a body, if any, is not read
        self._send(405, "<h1>405</h1><p>read-only server</p>", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _get(self, head: bool) -> None:
        self.deadline.disarm()
        try:
            check_host(self.headers.get("Host"), self.allowed)
        except RequestRefused as e:
            self.close_connection = True
            return self._send(e.status, f"<h1>{e.status}</h1><p>{html.escape(str(e))}</p>", head=head)
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        try:
            if path == "/":
                return self._send(200, self.runs.index(), head=head)
            m = RUN_PATH.match(path)
            if m and int(m.group(1)) < len(self.runs.dirs):
                return self._send(200, self.runs.report(int(m.group(1))), head=head)
        except RunError as e:
            return self._send(500, f"<h1>cannot read this run</h1><p>{html.escape(str(e))}</p>", head=head)
        self._send(404, "<h1>404</h1><p>no such page; <a href=\"/\">the runs</a></p>", head=head)

    def _send(self, status: int, body: str, extra: dict | None = None, head: bool = False) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(data)


class RunsServer(GuardedServerMixin, ThreadingHTTPServer):
    daemon_threads = True
    max_connections = MAX_CONNECTIONS


def make_server(dirs: list[Path], host: str = "127.0.0.1", port: int = 0, refresh: int = 5,
                allow_hosts: tuple[str, ...] = ()) -> ThreadingHTTPServer:
    """A server over the given run directories (each must hold a run); call serve_forever() on it. allow_hosts:
    Host names answered besides loopback and `host` ('*': any)."""
    if not dirs:
        raise RunError("give at least one run directory to serve")
    for d in dirs:
        if not (Path(d) / DB_NAME).is_file():
            raise RunError(f"{d} holds no run ({DB_NAME} not found); give directories made by prove or grade")
    runs = Runs(list(dirs), refresh)
    handler = type("RunsHandler", (Handler,), {"runs": runs, "allowed": allowed_hosts(host, allow_hosts)})
    return RunsServer((host, port), handler)
