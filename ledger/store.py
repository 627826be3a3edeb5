"""The run store: one directory per run, one SQLite file (WAL) holding the config and every model call.

A call is committed the moment it finishes, so a run killed with SIGKILL loses only the calls in flight, and
`--resume` re-issues only those (and calls that ended in an error). Everything else about a run (candidates,
scores, the best proof) is derived from the recorded calls and written alongside for reports.

A process that writes a run (a new one or `--resume`) holds an exclusive lock on LOCK_NAME in the run directory
for as long as the store is open, so a second one is refused instead of paying for the same calls again. Before
a store is opened at all (resume, export, report, serve) its integrity is checked on a read-only, immutable
connection: a damaged or truncated file is refused with one line and left byte for byte as it was.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger.errors import RunError
from model.backends.backend import Completion, Request

DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
SCHEMA_VERSION = 1

# A run's status (meta "status"): running while a process works on it (or until one killed with SIGKILL is resumed),
# done when it finished, interrupted when Ctrl-C stopped it (--resume continues it). Reports of a run refresh
# themselves only while it is running.
RUNNING, DONE, INTERRUPTED = "running", "done", "interrupted"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,          -- idempotency key: the same logical call has the same key on resume
    kind TEXT NOT NULL,            -- generate | refine | verify | meta | grade
    problem_id TEXT NOT NULL,
    candidate_id TEXT,
    round INTEGER,
    request TEXT NOT NULL,
    completion TEXT NOT NULL,
    status TEXT NOT NULL,          -- ok | unparsed | truncated | error
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 1,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    id TEXT PRIMARY KEY,
    problem_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    body TEXT NOT NULL             -- Candidate.to_dict() as JSON
);
"""


class RunStore:
    def __init__(self, directory: Path, conn: sqlite3.Connection, run_lock: int | None = None):
        self.directory = directory
        self._conn = conn
        self._lock = threading.Lock()  # backends report results from worker threads
        self._run_lock = run_lock  # the open lock file of a writing process, released by close()

    # ---- opening ----
    @classmethod
    def start(cls, directory: str | Path, config: dict, resume: bool) -> RunStore:
        """A new run in `directory`, or with `resume` the run already there (which must have the same config)."""
        return cls.open(directory, config, write=True) if resume else cls.create(directory, config)

    @classmethod
    def create(cls, directory: str | Path, config: dict) -> RunStore:
        directory = Path(directory)
        if (directory / DB_NAME).exists():
            raise RunError(f"{directory} already holds a run; pass --resume to continue it, or choose another --run")
        if directory.exists() and not directory.is_dir():
            raise RunError(f"--run {directory}: exists and is not a directory; choose another path")
        if directory.is_dir() and any(directory.iterdir()):
            raise RunError(f"--run {directory}: the directory is not empty and holds no run; "
                           "choose a new or empty one")
        directory.mkdir(parents=True, exist_ok=True)
        run_lock = take_run_lock(directory)
        if (directory / DB_NAME).exists():  # another process created it between the check above and the lock
            release_run_lock(run_lock)
            raise RunError(f"{directory} already holds a run; pass --resume to continue it, or choose another --run")
        store = cls(directory, cls._connect(directory / DB_NAME), run_lock)
        with store._lock, store._conn:
            store._conn.executescript(SCHEMA)
            store._put("schema_version", SCHEMA_VERSION)
            store._put("config", config)
            store._put("created_at", time.time())
            store._put("status", RUNNING)
        return store

    @classmethod
    def open(cls, directory: str | Path, config: dict | None = None, write: bool = False) -> RunStore:
        """Open an existing run; with `config`, refuse a run that was started with a different one. `write`
        (resume) takes the run's lock first: a run another process is writing is refused."""
        directory = Path(directory)
        path = directory / DB_NAME
        if not path.is_file():
            raise RunError(f"{directory} holds no run ({DB_NAME} not found); start one without --resume")
        run_lock = take_run_lock(directory) if write else None
        try:
            check_integrity(path)
            try:
                store = cls(directory, cls._connect(path), run_lock)
                stored = store.meta("config")
            except sqlite3.DatabaseError as e:
                raise RunError(f"{path} is not a readable run store ({e}); it was left untouched") from None
        except BaseException:
            release_run_lock(run_lock)
            raise
        if stored is None:
            store.close()
            raise RunError(f"{path} has no run config; it is not a proofloop run")
        if config is not None and stored != config:
            store.close()
            diff = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            raise RunError(f"{directory} holds a run with another config (differs in: {', '.join(diff)}); "
                              f"resume it with the same flags or choose another --run")
        return store

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            release_run_lock(self._run_lock)
            self._run_lock = None

    # ---- run metadata ----
    def _put(self, key: str, value: Any) -> None:  # value: anything json.dumps takes
        self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock, self._conn:
            self._put(key, value)

    def meta(self, key: str, default: Any = None) -> Any:
        with self._lock, self._damage(f"meta {key!r}"):
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row else default

    @contextlib.contextmanager
    def _damage(self, what: str) -> Iterator[None]:
        """A row that SQLite cannot decode or that is not the JSON written: a damaged store, one RunError."""
        try:
            yield
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as e:
            raise RunError(f"{self.directory / DB_NAME}: {what} cannot be read ({e}); the store is damaged: "
                           "restore it from a copy, or start a new run in another --run directory") from None

    # ---- calls ----
    def finished(self, key: str) -> tuple[Completion, str] | None:
        """A call recorded without error, with its status; None when it must be (re-)issued."""
        with self._lock, self._damage(f"call {key!r}"):
            row = self._conn.execute("SELECT completion, status FROM calls WHERE key = ? AND status != 'error'",
                                     (key,)).fetchone()
            return (Completion.from_dict(json.loads(row[0])), row[1]) if row else None

    def record(self, key: str, kind: str, problem_id: str, candidate_id: str | None, round_: int | None,
               request: Request, completion: Completion, status: str) -> None:
        c = completion
        with self._lock, self._conn:
            self._conn.execute(
                """INSERT INTO calls(key, kind, problem_id, candidate_id, round, request, completion, status,
                       prompt_tokens, cached_tokens, completion_tokens, seconds, attempts, finished_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
                   ON CONFLICT(key) DO UPDATE SET completion = excluded.completion, status = excluded.status,
                       prompt_tokens = excluded.prompt_tokens, cached_tokens = excluded.cached_tokens,
                       completion_tokens = excluded.completion_tokens, seconds = excluded.seconds,
                       attempts = calls.attempts + 1, finished_at = excluded.finished_at""",
                (key, kind, problem_id, candidate_id, round_, json.dumps(request.to_dict()),
                 json.dumps(c.to_dict()), status, c.prompt_tokens, c.cached_tokens, c.completion_tokens,
                 c.seconds, time.time()))

    def calls(self, kind: str | None = None) -> Iterator[dict]:
        sql = "SELECT * FROM calls" + (" WHERE kind = ?" if kind else "") + " ORDER BY finished_at"
        with self._lock, self._damage("the calls"):
            cur = self._conn.execute(sql, (kind,) if kind else ())
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        for row in rows:
            d = dict(zip(names, row))
            with self._damage(f"call {d.get('key')!r}"):
                d["request"] = json.loads(d["request"])
                d["completion"] = json.loads(d["completion"])
            yield d

    def call_stats(self) -> dict:
        """Calls by kind and status, and tokens by kind, over the whole run."""
        with self._lock:
            rows = self._conn.execute(
                """SELECT kind, status, COUNT(*), SUM(prompt_tokens), SUM(cached_tokens), SUM(completion_tokens),
                          SUM(seconds) FROM calls GROUP BY kind, status""").fetchall()
        calls: dict[str, dict[str, int]] = {}
        tokens: dict[str, dict[str, int]] = {}
        for kind, status, n, prompt, cached, completion, _ in rows:
            calls.setdefault(kind, {})[status] = n
            t = tokens.setdefault(kind, {"prompt": 0, "cached": 0, "completion": 0})
            t["prompt"] += prompt or 0
            t["cached"] += cached or 0
            t["completion"] += completion or 0
        return {"calls": calls, "tokens": tokens}

    def total_tokens(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM calls").fetchone()
        return int(row[0])

    # ---- candidates (derived, for reports) ----
    def save_candidate(self, candidate: dict) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO candidates(id, problem_id, round, body) VALUES (?, ?, ?, ?)",
                               (candidate["id"], candidate["problem_id"], candidate["round"], json.dumps(candidate)))

    def candidates(self) -> list[dict]:
        with self._lock, self._damage("the candidates"):
            rows = self._conn.execute("SELECT body FROM candidates ORDER BY round, id").fetchall()
            return [json.loads(r[0]) for r in rows]


# ---- integrity and the run lock ----

def check_integrity(path: Path) -> None:
    """RunError naming what is wrong when SQLite's integrity check fails on the store at `path`.

    The check runs on a read-only connection that writes nothing: `immutable` when there is no WAL file (no lock,
    no -shm created), plain read-only when there is one (its frames are part of the store)."""
    truncated = truncation(path)
    if truncated:
        raise RunError(f"{path} is truncated ({truncated}); it was left untouched: restore it from a copy, or "
                          "start a new run in another --run directory")
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=30)
    except sqlite3.DatabaseError as e:
        raise RunError(f"{path} cannot be opened ({e}); it was left untouched") from None
    try:
        rows = conn.execute("PRAGMA integrity_check(5)").fetchall()
    except sqlite3.DatabaseError as e:
        problems = [str(e)]
    else:
        problems = [r[0] for r in rows if r[0] != "ok"]
    finally:
        conn.close()
    if problems:
        detail = "; ".join(" ".join(p.split()) for p in problems)[:300]
        raise RunError(f"{path} is damaged or truncated (SQLite integrity check: {detail}); it was left "
                          "untouched: restore it from a copy, or start a new run in another --run directory")


def truncation(path: Path) -> str | None:
    """What shows that the file is shorter than SQLite wrote it, from the header's page size and page count; None
    when nothing does. SQLite itself reads a cut last page as if it were whole, and would write past it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None  # not SQLite at all: the integrity check says so
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if page_size < 512 or size % page_size:
        return f"{size} bytes is not a whole number of {page_size}-byte pages"
    if size < pages * page_size:
        return f"{size} bytes, the header counts {pages} pages of {page_size}"
    return None


def take_run_lock(directory: Path) -> int:
    """An exclusive lock on the run (the open file descriptor of LOCK_NAME); RunError when another process
    holds it. The kernel drops the lock when its holder dies, so a killed run never leaves a stale one."""
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise RunError(f"{directory} is in use by another proofloop process (pid {holder}); wait for it to end "
                          "or stop it before resuming this run") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_run_lock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock
