"""Ctrl-C during `proofloop prove`: a subprocess against the loopback server, which holds every answer after the
fifth, gets SIGINT mid-run. It exits 130 with the run directory and the exact line that continues the run on
stderr, the store says `interrupted` (so reports stop refreshing) and keeps the calls it finished, and that line,
run as printed, finishes the run without re-issuing a finished call."""
import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hang_guard import CLIENT_TIMEOUT, HANG_GUARD
from resume_checks import finished_requests, logged_keys, server_keys, server_process

from report.build import render_run
from report.serve import Runs

TESTS = Path(__file__).resolve().parents[1]
RESPONDER = f"{TESTS / 'prover' / 'fake_mathematician.py'}:respond"
PROOFLOOP = [sys.executable, "-m", "cli"]
ROOT = TESTS.parent
STOP_AT = 5  # finished calls before Ctrl-C
# --meta and --no-exact: a flag pair in each position, so the printed line must carry both to keep the run's identity
FLAGS = ["--candidates", "2", "--verifications", "3", "--rounds", "3", "--refine-top", "1", "--feedback", "2",
         "--seed", "7", "--timeout", str(CLIENT_TIMEOUT), "--concurrency", "2", "--model", "test-model", "--meta",
         "--no-exact", "--json"]


def recorded(db: Path) -> int:
    try:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT COUNT(*) FROM calls WHERE status != 'error'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def run_status(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return json.loads(conn.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()[0])
    finally:
        conn.close()


def test_ctrl_c_marks_the_run_and_prints_how_to_resume(tmp_path):
    log, release, run = tmp_path / "server.jsonl", tmp_path / "release", tmp_path / "run"
    db = run / "run.sqlite"
    with server_process(RESPONDER, log, "--delay", "0.05", "--hold-after", str(STOP_AT),
                        "--release", str(release)) as url:
        proc = subprocess.Popen(PROOFLOOP + ["prove", "imo2025/1", "--endpoint", url, *FLAGS, "--run", str(run)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + HANG_GUARD
        while recorded(db) < STOP_AT and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=HANG_GUARD)

        assert proc.returncode == 130, err
        assert out == ""  # no JSON for a run that did not finish
        assert f"interrupted: the run is kept in {run} (" in err
        lines = [line.strip() for line in err.splitlines() if line.startswith("  proofloop prove ")]
        assert len(lines) == 1, err
        words = shlex.split(lines[0])
        assert words[-3:] == ["--run", str(run), "--resume"] and "--endpoint" in words and "--no-exact" in words
        assert run_status(db) == "interrupted"
        done_before = finished_requests(db)
        assert len(done_before) >= STOP_AT  # the calls finished before Ctrl-C stay recorded

        # a report of the interrupted run does not refresh itself, nor does the run index that lists it
        assert "http-equiv=\"refresh\"" not in render_run(run, refresh=5)[0]
        assert "http-equiv=\"refresh\"" not in Runs([run], 5).index()

        seen_before = len(logged_keys(log))
        release.touch()  # the server answers everything from now on
        resumed = subprocess.run(PROOFLOOP + words[1:], cwd=ROOT, capture_output=True, text=True,
                                 timeout=HANG_GUARD)
        assert resumed.returncode == 0, resumed.stderr
        result = json.loads(resumed.stdout)
        assert result["status"] == "accepted" and result["run"] == str(run)
        assert run_status(db) == "done"
        new_keys = logged_keys(log)[seen_before:]
        assert new_keys and not server_keys(url, "test-model", done_before) & set(new_keys), \
            "a call finished before Ctrl-C was issued again"


@pytest.mark.parametrize("status, refreshes", [("running", True), ("interrupted", False), ("done", False)])
def test_reports_refresh_only_while_running(tmp_path, status, refreshes):
    from ledger.store import RunStore

    store = RunStore.create(tmp_path / "run", {"kind": "prove", "problem": {"id": "p"}})
    store.set_meta("status", status)
    store.close()
    assert ("http-equiv=\"refresh\"" in render_run(tmp_path / "run", refresh=5)[0]) is refreshes
    assert ("http-equiv=\"refresh\"" in Runs([tmp_path / "run"], 5).index()) is refreshes


def test_ctrl_c_during_grade_says_how_to_resume(tmp_path, monkeypatch):
    """grade takes the same path: the run marked interrupted, its resume line on stderr, exit 130."""
    from openai_server import OpenAIServer
    from typer.testing import CliRunner

    import cli
    from verifier.batch import GradeRun

    def stopped(self):
        self.store.set_meta("status", "running")
        raise KeyboardInterrupt

    monkeypatch.setattr(GradeRun, "run", stopped)
    run = tmp_path / "run"
    with OpenAIServer() as server:
        r = CliRunner().invoke(cli.app, ["grade", "problems/data/gradingbench_sample.csv", "--endpoint",
                                         server.base_url, "--model", server.model, "-m", "2", "--api-key", "sk-x",
                                         "--run", str(run)])
    assert r.exit_code == 130, r.output
    line = next(x.strip() for x in r.stderr.splitlines() if x.startswith("  proofloop grade "))
    words = shlex.split(line)
    assert words[2] == "problems/data/gradingbench_sample.csv" and words[-3:] == ["--run", str(run), "--resume"]
    assert ["--verifications", "2"] == words[words.index("--verifications"):][:2]
    assert "sk-x" not in r.stderr and ["--api-key", "KEY"] == words[words.index("--api-key"):][:2]
    assert run_status(run / "run.sqlite") == "interrupted"
