"""Helpers for the kill-and-resume tests: the loopback OpenAI server as a process with a request log, and what a run
store and that log say about which calls were sent."""
from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from openai_server import request_key

from model.backends.backend import Request, Sampling
from model.backends.remote import RemoteBackend

TESTS = Path(__file__).resolve().parent


@contextlib.contextmanager
def server_process(responder: str, log: Path, *options: str):
    """Yields the base URL of `tests/openai_server.py` run as a process, logging every request to `log`."""
    proc = subprocess.Popen([sys.executable, str(TESTS / "openai_server.py"), "--port", "0", "--responder", responder,
                             "--log", str(log), *options], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.kill()
        proc.wait()


def finished_requests(db: Path) -> list[Request]:
    """The requests of every call the run store holds as finished (not failed)."""
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT request FROM calls WHERE status != 'error'").fetchall()
    conn.close()
    out = []
    for (raw,) in rows:
        d = json.loads(raw)
        s = d["sampling"]
        out.append(Request(tuple(d["messages"]), Sampling(**{**s, "stop": tuple(s["stop"])})))
    return out


def server_keys(url: str, model: str, requests: list[Request]) -> set[str]:
    """The keys under which the test server logs these requests."""
    payload = RemoteBackend(url, model).payload
    return {request_key(payload(r)) for r in requests}


def logged_keys(log: Path) -> list[str]:
    return [r["key"] for r in map(json.loads, log.read_text().splitlines()) if r["path"].endswith("/chat/completions")]
