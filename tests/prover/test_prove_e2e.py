"""`proofloop prove` end to end: a subprocess against a real OpenAI-compatible HTTP server on 127.0.0.1 that injects
a 500 and a hang, killed with SIGKILL mid-run and resumed without re-issuing any finished call. The server holds
every answer after the fifth until the test releases it, so the kill lands mid-run however fast the machine is; the
hang lasts until the server stops, so only the client's timeout (far above the work) ends it."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hang_guard import CLIENT_TIMEOUT, HANG_GUARD
from resume_checks import finished_requests, logged_keys, server_keys, server_process

TESTS = Path(__file__).resolve().parents[1]
RESPONDER = f"{TESTS / 'prover' / 'fake_mathematician.py'}:respond"
PROOFLOOP = [sys.executable, "-m", "cli"]
ROOT = TESTS.parent
FLAGS = ["--candidates", "2", "--verifications", "3", "--rounds", "3", "--refine-top", "1", "--feedback", "2",
         "--seed", "7", "--timeout", str(CLIENT_TIMEOUT), "--concurrency", "2", "--model", "test-model"]
KILL_AT = 5  # finished calls before the kill


@pytest.fixture
def server(tmp_path):
    log = tmp_path / "server.jsonl"
    release = tmp_path / "release"
    with server_process(RESPONDER, log, "--faults", "500,hang", "--hang", str(HANG_GUARD), "--delay", "0.05",
                        "--hold-after", str(KILL_AT), "--release", str(release)) as url:
        yield url, log, release


def test_prove_killed_and_resumed(server, tmp_path):
    url, log, release = server
    run = tmp_path / "run"
    cmd = PROOFLOOP + ["prove", "imo2025/1", "--endpoint", url, *FLAGS, "--run", str(run), "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = run / "run.sqlite"
    deadline = time.time() + HANG_GUARD
    while time.time() < deadline:
        if db.exists():
            try:
                conn = sqlite3.connect(db)
                n = conn.execute("SELECT COUNT(*) FROM calls WHERE status != 'error'").fetchone()[0]
                conn.close()
            except sqlite3.OperationalError:
                n = 0
            if n >= KILL_AT:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"the run made no progress: {proc.communicate()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    done_before = finished_requests(db)
    assert 5 <= len(done_before) < 22
    seen_before = len(logged_keys(log))
    finished_keys = server_keys(url, "test-model", done_before)
    release.touch()  # the server answers everything from now on

    again = subprocess.run(PROOFLOOP + ["prove", "imo2025/1", "--endpoint", url, *FLAGS, "--run", str(run)],
                           cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and "already holds a run" in again.stderr and "--resume" in again.stderr

    other = subprocess.run(PROOFLOOP + ["prove", "imo2025/1", "--endpoint", url, *FLAGS, "--candidates", "3",
                                        "--run", str(run), "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert other.returncode == 2 and "another config" in other.stderr

    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["status"] == "accepted" and out["mean_score"] == 1.0 and out["verifications"] == 3
    assert out["rounds_used"] == 2 and "fixed the covering" in out["proof"]
    assert out["calls"] == {"generate": {"ok": 2}, "verify": {"ok": 12}, "meta": {"ok": 6}, "refine": {"ok": 2}}
    assert out["tokens"]["verify"]["completion"] > 0 and out["tokens"]["verify"]["cached"] > 0

    new_keys = logged_keys(log)[seen_before:]
    assert new_keys and not finished_keys & set(new_keys), "a finished call was issued again"

    exported = subprocess.run(PROOFLOOP + ["export", str(run)], cwd=ROOT, capture_output=True, text=True)
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(lines) == 22 and {c["kind"] for c in lines} == {"generate", "verify", "meta", "refine"}


def test_unreachable_endpoint_is_one_line(tmp_path):
    r = subprocess.run(PROOFLOOP + ["prove", "imo2025/1", "--endpoint", "http://127.0.0.1:9", "--model", "m",
                                    "--run", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "cannot reach" in r.stderr
    assert not (tmp_path / "r").exists()


def test_garbage_endpoint_is_one_line(tmp_path):
    from openai_server import OpenAIServer

    with OpenAIServer(models_fault="html") as s:
        r = subprocess.run(PROOFLOOP + ["prove", "imo2025/1", "--endpoint", s.base_url, "--model", "m",
                                        "--run", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "OpenAI" in r.stderr
