"""`proofloop serve` over real HTTP on loopback: lists runs, renders reports, follows a run in progress, is
read-only, and reaches nothing outside the run directories however the path is written."""
import http.client
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD

from ledger.store import RunStore
from synthetic import prove_run

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
