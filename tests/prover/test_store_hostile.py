"""The run store against damaged files and concurrent writers, with real SQLite files damaged in the test and real
processes racing for a run: a damaged or truncated store is refused with one line and exit 2 by `prove --resume`,
`export` and `report` and left byte for byte as it was; a second writer of one run is refused."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from resume_checks import server_process
from typer.testing import CliRunner

import cli
from ledger.errors import RunError
from ledger.store import DB_NAME, RunStore
from model.backends.backend import Completion, Request, Sampling

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096
RESPONDER = f"{ROOT / 'tests' / 'prover' / 'fake_mathematician.py'}:respond"
CONFIG = {"kind": "prove", "problem": {"id": "p1", "statement": "Show that 1 = 1."}}


def make_run(directory: Path, calls: int = 150) -> Path:
    store = RunStore.create(directory, CONFIG)
    rng = random.Random(0)
    for i in range(calls):
        text = " ".join(f"w{rng.randrange(10 ** 6)}" for _ in range(300))
        store.record(f"k{i}", "generate", "p1", f"c{i}", 0, Request(({"role": "user", "content": "q"},),
                                                                        Sampling(max_tokens=10)),
                     Completion(text=text, prompt_tokens=3, completion_tokens=300), "ok")
    store.set_meta("status", "done")
    store.close()
    conn = sqlite3.connect(directory / DB_NAME)  # fold the WAL into the main file: one file to damage
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    for extra in ("-wal", "-shm"):
        (directory / (DB_NAME + extra)).unlink(missing_ok=True)
    return directory


def damages(size: int) -> list[tuple[str, callable]]:
    """(name, bytes -> damaged bytes), all past the first page so the header still reads as SQLite."""
    pages = size // PAGE
    rng = random.Random(1)
    out = []
    for k in (2, 3, pages // 3, pages // 2, pages - 1):
        out.append((f"truncated to {k} pages", lambda b, k=k: b[:k * PAGE]))
    for cut in (PAGE + 100, size // 2 + 1234, size - 17):
        out.append((f"truncated mid-page at {cut}", lambda b, cut=cut: b[:cut]))
    for p in (1, 2, pages // 2, pages - 1):
        out.append((f"page {p + 1} zeroed", lambda b, p=p: b[:p * PAGE] + bytes(PAGE) + b[(p + 1) * PAGE:]))
    for p in (1, pages // 4, pages // 2, pages - 2):
        noise = bytes(rng.randrange(256) for _ in range(64))
        out.append((f"page {p + 1} header overwritten", lambda b, p=p, noise=noise:
                    b[:p * PAGE] + noise + b[p * PAGE + 64:]))
    out.append(("half the file is noise", lambda b: b[:PAGE * 2] + os.urandom(len(b) - PAGE * 2)))
    return out


def store_files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.name.startswith(DB_NAME)}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("store") / "run")


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.jsonl"
    with server_process(RESPONDER, log) as url:
        yield url, log


def test_every_damage_is_refused_and_leaves_the_store_byte_identical(good_run, tmp_path, endpoint):
    url, log = endpoint
    original = (good_run / DB_NAME).read_bytes()
    cases = damages(len(original))
    assert len(cases) >= 15
    runner = CliRunner()
    for i, (name, damage) in enumerate(cases):
        run = tmp_path / f"case{i}"
        run.mkdir()
        (run / DB_NAME).write_bytes(damage(original))
        before = store_files(run)
        for args in (["export", str(run)], ["report", str(run)],
                     ["prove", "imo2025/1", "--endpoint", url, "--model", "m", "--run", str(run),
                      "--resume", "--json"]):
            result = runner.invoke(cli.app, args)
            assert result.exit_code == 2, (name, args[0], result.output)
            line = one_error_line(result.output)
            assert "left untouched" in line or "the store is damaged" in line, (name, line)
            assert store_files(run) == before, (name, args[0])  # not a byte written, no -wal or -shm made
        assert not (run / "report.html").exists()
    sent = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert not [r for r in sent if r["method"] == "POST"]  # the endpoint was checked, no model call was sent


def test_an_intact_store_still_opens_for_every_command(good_run, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli.app, ["export", str(good_run), "-o", str(tmp_path / "calls.jsonl")])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 150


def test_a_row_that_is_not_json_is_one_error_not_a_traceback(good_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / DB_NAME).write_bytes((good_run / DB_NAME).read_bytes())
    conn = sqlite3.connect(run / DB_NAME)  # damage that SQLite's check cannot see: a row's content
    conn.execute("UPDATE calls SET completion = '{\"text\": \"cut' WHERE key = 'k7'")
    conn.commit()
    conn.close()
    result = CliRunner().invoke(cli.app, ["export", str(run)])
    assert result.exit_code == 2 and "'k7'" in one_error_line(result.output)


# ---- the run lock ----

HOLDER = textwrap.dedent("""
    import sys, time
    from ledger.errors import RunError
    from ledger.store import RunStore
    try:
        store = RunStore.open(sys.argv[1], write=True)
    except RunError as e:
        print("refused", e, flush=True)
        sys.exit(2)
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    store.set_meta("writer", sys.argv[3])
    store.close()
""")


def test_processes_racing_for_one_run_get_it_one_at_a_time(good_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / DB_NAME).write_bytes((good_run / DB_NAME).read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", HOLDER, str(run), "3", str(i)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2, 2, 2], outs
    refused = [o for (o, _), c in zip(outs, codes) if c == 2]
    assert all("in use by another proofloop process (pid" in o for o in refused), refused
    winner = codes.index(0)
    store = RunStore.open(run)
    assert store.meta("writer") == str(winner)
    store.close()
    again = RunStore.open(run, write=True)  # the winner's lock went with it
    again.close()


def test_a_killed_writer_leaves_no_stale_lock(good_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / DB_NAME).write_bytes((good_run / DB_NAME).read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run), "60", "x"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    with pytest.raises(RunError, match=f"pid {proc.pid}"):
        RunStore.open(run, write=True)
    reader = RunStore.open(run)  # reading (report, export, serve) does not need the lock
    assert reader.meta("status") == "done"
    reader.close()
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            RunStore.open(run, write=True).close()
            break
        except RunError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_resume_while_the_run_is_running_is_refused_through_the_cli(tmp_path):
    """Two `proofloop prove` processes on one run directory: the second is refused before it sends a request."""
    log = tmp_path / "server.jsonl"
    run = tmp_path / "run"
    flags = ["--candidates", "2", "--verifications", "2", "--rounds", "1", "--seed", "7", "--timeout", "5",
             "--concurrency", "1", "--model", "test-model", "--run", str(run), "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with server_process(RESPONDER, log, "--delay", "0.5") as url:
        first = subprocess.Popen([sys.executable, "-m", "cli", "prove", "imo2025/1", "--endpoint", url, *flags],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (run / DB_NAME).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "cli", "prove", "imo2025/1", "--endpoint", url, *flags,
                                 "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert "in use by another proofloop process" in one_error_line(second.stderr)
        first.kill()
        first.wait()
