"""`proofloop serve` over real HTTP on loopback: lists runs, renders reports, follows a run in progress, is
read-only, and reaches nothing outside the run directories however the path is written."""
import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD
from synthetic import prove_run

from ledger.store import RunStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serve")
    done = prove_run(tmp_path / "done-run", candidates=3, rounds=1, m=2)
    live = prove_run(tmp_path / "live-run", candidates=2, rounds=1, m=1, status="running")
    followed = prove_run(tmp_path / "followed-run", candidates=2, rounds=1, m=1, status="running")
    (tmp_path / "secret.txt").write_text("TOP-SECRET-OUTSIDE")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", str(done), str(live), str(followed), "--port", "0",
                             "--refresh", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    line = proc.stdout.readline()
    m = re.search(r"http://([\d.]+):(\d+)/", line)
    assert m, line + proc.stderr.read() if proc.poll() is not None else line
    yield m.group(1), int(m.group(2)), followed
    proc.terminate()
    proc.wait(HANG_GUARD)


def get(host, port, path, method="GET"):
    conn = http.client.HTTPConnection(host, port, timeout=HANG_GUARD)
    conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)  # the path goes out byte for byte
    conn.endheaders()
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, dict(r.getheaders()), body


def test_lists_and_renders(served):
    host, port, _ = served
    assert host == "127.0.0.1"
    status, headers, body = get(host, port, "/")
    assert status == 200 and "done-run" in body and "live-run" in body and "demo/1" in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'http-equiv="refresh"' in body  # one run is in progress
    status, _, body = get(host, port, "/run/0/")
    assert status == 200 and "<h1>demo/1</h1>" in body and 'href="/"' in body
    assert 'http-equiv="refresh"' not in body
    status, _, body = get(host, port, "/run/0")
    assert status == 200


def test_live_refresh_follows_the_store(served):
    host, port, live = served
    status, _, body = get(host, port, "/run/2/")
    assert status == 200 and '<meta http-equiv="refresh" content="2">' in body
    store = RunStore.open(live)
    store.set_meta("result", {"status": "accepted", "rounds_used": 1, "best": "r1c0", "mean_score": 1.0})
    store.set_meta("status", "done")
    store.close()
    time.sleep(0.05)
    status, _, body = get(host, port, "/run/2/")
    assert status == 200 and 'http-equiv="refresh"' not in body and "accepted" in body


@pytest.mark.parametrize("path", [
    "/../../../../etc/passwd", "/run/0/../../../../etc/passwd", "/run/0/../../secret.txt", "/run/0/run.sqlite",
    "/run/%2e%2e/%2e%2e/etc/passwd", "/run/0/%2e%2e%2f%2e%2e%2fsecret.txt", "//etc/passwd", "/etc/passwd",
    "/run/3/", "/run/-1/", "/run/0x0/", "/run/99999999/", "/run/0/report.html", "/secret.txt",
    "/run/..%5c..%5csecret.txt",
    "/run/0/?../../secret.txt", "http://127.0.0.1/../secret.txt", "/static/report.css", "/cli.py",
])
def test_nothing_outside_is_reachable(served, path):
    host, port, _ = served
    status, _, body = get(host, port, path)
    assert "root:" not in body and "TOP-SECRET" not in body and "SQLite format" not in body
    if path != "/run/0/?../../secret.txt":
        assert status == 404
    else:
        assert status == 200 and "<h1>demo/1</h1>" in body  # the query is ignored


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_read_only(served, method):
    host, port, _ = served
    status, headers, _ = get(host, port, "/run/0/", method)
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_serve_refuses_a_non_run(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cli", "serve", str(tmp_path), "--port", "0"], cwd=ROOT,
                       capture_output=True, text=True, timeout=HANG_GUARD)
    assert r.returncode == 2 and "holds no run" in r.stderr


def get_as(host, port, path, host_header):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", path, headers={"Host": host_header})
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, body


def test_foreign_host_headers_are_refused(served):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own name as Host."""
    host, port, _ = served
    for name in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "localhost.evil", "[::2]", "",
                 "192.168.1.9"):
        for path in ("/", "/run/0/"):
            status, body = get_as(host, port, path, name)
            assert status == 421, (name, status)
            assert "--allow-host" in body and "TOP-SECRET" not in body and "best proof" not in body
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", "[::1]", f"[::1]:{port}"):
        assert get_as(host, port, "/", name)[0] == 200, name


def test_allow_host_and_idle_connections(tmp_path):
    from report.serve import make_server

    run = prove_run(tmp_path / "run", candidates=2, rounds=1, m=1)
    server = make_server([run], allow_hosts=("reports.lan",))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert get_as("127.0.0.1", port, "/", "reports.lan:8765")[0] == 200
        assert get_as("127.0.0.1", port, "/", "other.lan")[0] == 421
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(100)]
        time.sleep(1.0)
        busy = 0
        for sock in held:
            sock.settimeout(0.05)
            try:
                busy += sock.recv(100).startswith(b"HTTP/1.1 503")
            except TimeoutError:
                pass
            sock.close()
        assert busy >= 100 - 32
    finally:
        server.shutdown()
        server.server_close()
