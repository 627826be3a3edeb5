"""`proofloop grade` end to end: a subprocess grading the GradingBench training subset (100 proofs, or the 12 the
repository ships; M=1) against a real OpenAI-compatible HTTP server on 127.0.0.1, killed with SIGKILL mid-way and
resumed: no finished grading is issued again, every item ends graded or counted as unparsed, and --json carries the
agreement metrics. The server holds every answer after the first `kill_at`, so the kill lands mid-run on any
machine."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD
from resume_checks import finished_requests, logged_keys, server_keys, server_process

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
RESPONDER = f"{TESTS / 'grade' / 'fake_grader.py'}:respond"
PROOFLOOP = [sys.executable, "-m", "cli"]
FLAGS = ["--verifications", "1", "--model", "test-model", "--concurrency", "2", "--timeout", "60", "--seed", "3"]


@pytest.fixture
def kill_at(gradingbench_set) -> int:
    """Finished gradings before the kill: 20 of the 100, or 4 of the 12 shipped."""
    return 20 if gradingbench_set.full else 4


@pytest.fixture
def server(tmp_path, kill_at):
    log = tmp_path / "server.jsonl"
    release = tmp_path / "release"
    with server_process(RESPONDER, log, "--hold-after", str(kill_at),
                        "--release", str(release)) as url:
        yield url, log, release


def count_done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT COUNT(*) FROM calls WHERE status != 'error'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_grade_killed_and_resumed(server, tmp_path, gradingbench_set, kill_at):
    url, log, release = server
    gradingbench, n = gradingbench_set.path, (100 if gradingbench_set.full else 12)
    run = tmp_path / "run"
    cmd = PROOFLOOP + ["grade", str(gradingbench), "--endpoint", url, *FLAGS, "--run", str(run), "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = run / "run.sqlite"
    deadline = time.time() + HANG_GUARD
    while count_done(db) < kill_at:
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the run made no progress: {proc.communicate()}")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    done_before = finished_requests(db)
    assert len(done_before) == kill_at < n, "the server answered more than it was told to"
    seen_before = len(logged_keys(log))
    finished_keys = server_keys(url, "test-model", done_before)
    release.touch()  # the server answers everything from now on

    other = subprocess.run(PROOFLOOP + ["grade", str(gradingbench), "--endpoint", url, *FLAGS, "--rubric", "binary",
                                        "--run", str(run), "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert other.returncode == 2 and "another config" in other.stderr and len(other.stderr.strip().splitlines()) == 1

    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)

    new_keys = logged_keys(log)[seen_before:]
    assert not finished_keys & set(new_keys), "a finished grading was issued again"
    assert len(set(new_keys)) == n - len(done_before)  # each unfinished grading once (a retry repeats a key)
    print(f"\nkilled after {len(done_before)} finished gradings; the resumed run issued {len(new_keys)} "
          f"({len(finished_keys & set(new_keys))} of them finished before)")

    assert out["n"] == n and out["rubrics"] == {"points": n}
    assert sum(out["gradings"].values()) == n and "pending" not in out["gradings"]
    assert out["graded"] + out["unparsed"] == n and out["unparsed"] > 0  # counted, never dropped
    assert out["calls"]["grade"]["ok"] + out["calls"]["grade"].get("unparsed", 0) == n
    m = out["metrics"]
    for key in ("exact_accuracy", "binary_accuracy", "mae", "rmse", "normalized_mae", "within_one", "pearson",
                "kendall_tau_b", "bias", "pass_precision", "pass_recall"):
        assert key in m
    assert m["n"] == out["graded"] and m["skipped"] == out["unparsed"]
    assert 0 <= m["exact_accuracy"] <= 1 and m["mae"] >= 0
    assert len(out["per_problem"]) == (30 if n == 100 else 11) and len(out["items"]) == n
    assert out["tokens"]["grade"]["prompt"] > 0
    first = out["items"][0]
    assert first["id"] == "GB-0849" and first["human_points"] == 6.0 and first["statuses"][0] in ("ok", "unparsed")

    report = subprocess.run(PROOFLOOP + ["report", str(run), "--json"], cwd=ROOT, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    stats = json.loads(report.stdout)
    html = (run / "report.html").read_text()
    assert stats["kind"] == "grade" and 'href="#item-GB-0849"' in html and 'id="item-GB-0849"' in html


def test_grade_human_output_and_bad_input(server, tmp_path, gradingbench):
    url, _, release = server
    release.touch()
    r = subprocess.run(PROOFLOOP + ["grade", str(gradingbench), "--endpoint", url, *FLAGS, "--limit", "6",
                                    "--run", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "160"})
    assert r.returncode == 0, r.stderr
    assert "Agreement with human grades" in r.stdout and "4-class accuracy" in r.stdout and "GB-0849" in r.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("Problem ID,Problem,Response\nA,Q,P\n")
    r = subprocess.run(PROOFLOOP + ["grade", str(bad), "--endpoint", url, *FLAGS, "--run", str(tmp_path / "r2")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "'Points'" in r.stderr
    assert not (tmp_path / "r2").exists()
