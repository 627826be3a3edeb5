"""Terminal views of a grade run: a progress bar with ETA while it runs, agreement tables when it is done."""
from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

METRIC_ROWS = (
    ("exact_accuracy", "4-class accuracy", "pct"), ("binary_accuracy", "binarised accuracy", "pct"),
    ("mae", "MAE (points of 7)", "num"), ("normalized_mae", "MAE / 7", "num"), ("rmse", "RMSE", "num"),
    ("within_one", "within one point", "pct"), ("pearson", "Pearson r", "num"),
    ("kendall_tau_b", "Kendall tau-b", "num"), ("bias", "bias (ours - human)", "signed"),
    ("pass_precision", "precision: all pass -> full marks", "pct"),
    ("pass_recall", "recall: full marks -> all pass", "pct"),
)


def fmt(value: float | None, kind: str = "num") -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "signed":
        return f"{value:+.3f}"
    return f"{value:.3f}"


class GradeProgress:
    """Feeds CallRunner events into a rich progress bar (gradings done of total, ETA)."""

    def __init__(self, console: Console):
        self.progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=console, transient=False)
        self.task = self.progress.add_task("grade", total=None, note="")
        self.counts = {"ok": 0, "unparsed": 0, "truncated": 0, "error": 0}
        self._lock = threading.Lock()

    def __enter__(self) -> GradeProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.__exit__(exc_type, exc, tb)  # it returns None: an exception is never swallowed

    def _note(self) -> str:
        bad = [f"{v} {k}" for k, v in self.counts.items() if v and k != "ok"]
        return f"({', '.join(bad)})" if bad else ""

    def event(self, e: dict) -> None:
        with self._lock:
            if e["type"] == "calls":
                self.progress.update(self.task, total=e["total"], completed=e["reused"],
                                     note=f"({e['reused']} from the run)" if e["reused"] else "")
            elif e["type"] == "call_done":
                self.counts[e["status"]] = self.counts.get(e["status"], 0) + 1
                self.progress.update(self.task, advance=1, note=self._note())


def metrics_table(summary: dict) -> Table:
    m = summary["metrics"] or {}
    table = Table(title=f"Agreement with human grades ({m.get('n', 0)} items"
                        f"{', ' + str(m['skipped']) + ' without a grade' if m.get('skipped') else ''})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label, kind in METRIC_ROWS:
        table.add_row(label, fmt(m.get(key), kind))
    return table


def per_problem_table(summary: dict) -> Table:
    table = Table(title="Per problem")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("problem", "left"), ("n", "right"), ("4-class acc", "right"),
                                                      ("binary acc", "right"), ("MAE", "right"), ("bias", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")
    for pid, m in summary["per_problem"].items():
        table.add_row(escape(pid), str(m["n"]), fmt(m["exact_accuracy"], "pct"), fmt(m["binary_accuracy"], "pct"),
                      fmt(m["mae"]), fmt(m["bias"], "signed"))
    return table


def items_table(summary: dict, limit: int = 40) -> Table:
    table = Table(title=f"Items (first {min(limit, summary['n'])} of {summary['n']})")
    for name in ("item", "problem", "human", "ours", "class", "gradings"):
        table.add_column(name, overflow="fold")
    for it in summary["items"][:limit]:
        human = "-" if it["human_points"] is None else f"{it['human_points']:g}/{it['max_points']}"
        ours = "-" if it["points"] is None else f"{it['points']:.2f}/{it['max_points']}"
        table.add_row(escape(it["id"]), escape(it["problem_id"]), human, ours, it["majority_class"] or "-",
                      " ".join("-" if s is None else f"{s:g}" for s in it["scores"]))
    return table


def print_summary(console: Console, summary: dict) -> None:
    if summary["n"] <= 40:
        console.print(items_table(summary))
    if summary["metrics"]:
        if len(summary["per_problem"]) > 1:
            console.print(per_problem_table(summary))
        console.print(metrics_table(summary))
    g = summary["gradings"]
    tokens = sum(t.get("prompt", 0) + t.get("completion", 0) for t in summary["tokens"].values())
    console.print(f"{summary['graded']} of {summary['n']} items graded; gradings: "
                  + ", ".join(f"{v} {k}" for k, v in sorted(g.items()))
                  + f"; {tokens:,} tokens; run {escape(summary['run'])}")
