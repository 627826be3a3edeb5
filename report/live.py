"""A live terminal view of a running search: stage, calls, tokens, and the candidates with their scores."""
from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # only for the annotation: the view reads candidates the search hands it
    from prover.candidate import Candidate


def _score(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


class SearchView:
    def __init__(self, console: Console, problem_id: str):
        self.console = console
        self.problem_id = problem_id
        self.stage = "starting"
        self.done = self.total = self.tokens = self.reused = 0
        self.errors = 0
        self.streamed = 0  # tokens seen arriving in this stage's calls (before they finish)
        self.stage_started = time.monotonic()
        self.notes: list[str] = []  # what the search said it skipped or stopped on
        self.candidates: dict[str, Candidate] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> SearchView:
        self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._live.update(self._render())
        self._live.__exit__(exc_type, exc, tb)  # it returns None: an exception is never swallowed
        if not self.console.is_terminal:  # the last frame ends without a newline outside a terminal
            self.console.line()

    def event(self, e: dict) -> None:
        with self._lock:
            kind = e["type"]
            if kind == "stage":
                self.stage = e["stage"] + (f" (round {e['round']})" if "round" in e else "")
                self.streamed, self.stage_started = 0, time.monotonic()
            elif kind == "tokens":
                self.streamed += e["n"]
            elif kind == "skipped":
                self.notes.append(f"round {e['round']} skipped: {e['reason']}")
            elif kind == "calls":
                self.done, self.total, self.reused = e["reused"], e["total"], self.reused + e["reused"]
            elif kind == "call_done":
                self.done += 1
                self.tokens += e["tokens"]
                self.errors += e["status"] == "error"
            elif kind == "candidate":
                self.candidates[e["candidate"].id] = e["candidate"]
            self._live.update(self._render())

    def _render(self) -> Group:
        now = time.monotonic()
        head = Text.assemble(("proving ", "bold"), (self.problem_id, "bold cyan"),
                             f"  {self.stage}: calls {self.done}/{self.total}{self._streaming(now)}"
                             f"  tokens: {self.tokens}  errors: {self.errors}  resumed calls: {self.reused}"
                             f"  {now - self.started:.0f}s")
        table = Table(box=None, pad_edge=False)
        for col in ("candidate", "round", "from", "status", "self", "verifications", "mean"):
            table.add_column(col)
        for c in list(self.candidates.values())[-16:]:
            scores = " ".join(_score(s) for s in c.scores) or "-"
            mean = _score(None if c.mean_score is None else round(c.mean_score, 3))
            table.add_row(c.id, str(c.round), ",".join(c.parent_ids) or "-", c.status, _score(c.self_score), scores,
                          Text(mean, style="bold green" if c.accepted else ""))
        notes = [Text(n, style="yellow") for n in self.notes[-4:]]
        return Group(head, *notes, table)

    def _streaming(self, now: float) -> str:
        """ · 312 tokens · 14 tok/s: the stage's tokens as they arrive, so a long generation shows it is alive."""
        if not self.streamed:
            return ""
        seconds = max(now - self.stage_started, 1e-6)
        return f" · {self.streamed} tokens · {self.streamed / seconds:.0f} tok/s · {seconds:.0f} s"
