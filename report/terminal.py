"""Terminal rendering (rich) of one graded proof: what `proofloop verify` prints without --json."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from verifier.evidence import Evidence
from verifier.proof import Proof
from verifier.verification import Issue, Verification

if TYPE_CHECKING:  # annotations only: the summary reads what the search returned
    from prover.candidate import Candidate
    from prover.search import SearchResult

CONFIRMED = {True: "yes", False: "no", None: "-"}


def print_verification(console: Console, problem_id: str, proof: Proof, results: list[Verification],
                       exact: Evidence | None) -> None:
    """The mean score and statuses, each issue with its step, then the exact checks (refuted claims, answer, Lean).
    Everything from the model or the proof is escaped: it is shown as text, never read as markup."""
    scores = [v.score for v in results if v.score is not None]
    mean = sum(scores) / len(scores) if scores else None
    if results:
        console.print(f"[bold]{escape(problem_id)}[/bold]: mean score {mean if mean is not None else '-'} over "
                      f"{len(scores)} graded of {len(results)} ({', '.join(v.status for v in results)})")
        console.print(issues_table(results))
    else:
        console.print(f"[bold]{escape(problem_id)}[/bold]: exact checks only (no model)")
    if exact is not None:
        print_exact(console, proof, exact)


def issues_table(results: list[Verification]) -> Table:
    table = Table("verification", "step", "severity", "confirmed", "issue")
    for n, v in enumerate(results, start=1):
        for i in v.issues:
            table.add_row(str(n), str(i.step) if i.step else "-", i.severity, CONFIRMED[i.confirmed],
                          escape(i.description[:200]))
    return table


def print_exact(console: Console, proof: Proof, exact: Evidence) -> None:
    counts = exact.counts()
    console.print(f"exact checks: {counts['confirmed']} claims confirmed, {counts['refuted']} refuted, "
                  f"{counts['unchecked']} unchecked over {len(proof.steps)} steps")
    refuted = Table("step", "claim", "check", "evidence")
    for sr in exact.steps:
        for cr in sr.claims:
            if cr.verdict == "refuted":
                refuted.add_row(str(sr.step), escape(cr.claim.text[:120]), cr.method, escape(cr.evidence[:200]))
    if refuted.rows:
        console.print(refuted)
    if exact.answer is not None:
        a = exact.answer
        console.print(f"answer: {a.status} (expected {escape(str(a.expected)[:80])}, found "
                      f"{escape(str(a.found)[:80])}) {escape(a.evidence)}")
    if exact.lean is not None:
        console.print(f"lean: {exact.lean.status}: {escape(exact.lean.reason)}")
        for m in exact.lean.errors[:10]:
            console.print(f"  line {m.line}, column {m.column}: {escape(m.text.splitlines()[0][:200])}")


# ---- the end of `proofloop prove`: the best proof's verdict, step by step ----

STATUS_MEANING = {
    "accepted": "a proof passed the accept rule",
    "exhausted": "no proof reached the accept rule within {rounds} round(s): raise --rounds or --candidates, or use "
                 "a stronger model (--endpoint URL --model NAME)",
    "budget": "the token or time budget ran out first: raise --token-budget / --time-budget, or --resume the run",
    "rejected": "the proofs kept failing (the accept rule's failure limit): try a stronger model (--endpoint ...)",
}


def _bounded(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _mean(c: Candidate) -> str:
    """The mean over the parsed verifications (an unparsed one has no score)."""
    scores = [v.score for v in c.verifications if v.score is not None]
    return f"{sum(scores) / len(scores):.3g}" if scores else "-"


def print_prove_summary(console: Console, problem_id: str, result: SearchResult, run_dir: str,
                        report_path: str | None, rounds: int) -> None:
    """The best proof's steps with the issues pinned on them, each verification's score and meta verdicts, what the
    refinement changed, the final status and what it means, and where the run and its report are. `result` is the
    search's SearchResult."""
    b = result.best
    by_id = {c.id: c for c in result.candidates}
    if b is not None:
        parsed = [v for v in b.verifications if v.score is not None]
        console.print(f"[bold]best proof {escape(b.id)}[/bold] of {escape(problem_id)}: mean score "
                      f"{_mean(b)} over {len(parsed)} parsed of {len(b.verifications)} "
                      "verification(s)" + (f" ({b.skipped_verifications} not issued: settled early)"
                                           if b.skipped_verifications else ""))
        for n, v in enumerate(b.verifications, start=1):
            meta = "" if v.meta_score is None else f", meta {v.meta_score:g}"
            console.print(f"  verification {n}: {'-' if v.score is None else f'{v.score:g}'} ({escape(v.status)}"
                          f"{meta})")
        console.print(steps_table(b))
        for pid in b.parent_ids:
            p = by_id.get(pid)
            before = _mean(p) if p else "?"
            console.print(f"refined: {escape(pid)} -> {escape(b.id)}, score {before} -> "
                          f"{_mean(b)}")
    for s in result.stats.get("skipped_rounds", []):
        console.print(f"[yellow]round {s['round']} skipped[/yellow]: {escape(s['reason'])}")
    saved = result.stats.get("early_stop")
    if saved:
        console.print(f"early stop: {saved['verifications_not_issued']} verification(s) not issued, about "
                      f"{saved['tokens_saved_estimate']} tokens saved")
    meaning = STATUS_MEANING.get(result.status, "").format(rounds=rounds)
    style = "green" if result.status == "accepted" else "yellow"
    console.print(f"status: [{style}]{escape(result.status)}[/{style}]" + (f": {meaning}" if meaning else ""))
    console.print(f"run: {escape(run_dir)}")
    if report_path:
        console.print(f"report: {escape(report_path)}")


def steps_table(c: Candidate) -> Table:
    """One row per step: the issues quoted in it (severity, quote, what is wrong, meta verdict), "no issue" only
    when some verification parsed, else "not verified"."""
    verified = any(v.score is not None for v in c.verifications)
    pinned: dict[int | None, list[Issue]] = {}
    for v in c.verifications:
        if v.score is not None:
            for i in v.issues:
                pinned.setdefault(i.step, []).append(i)
    for i in c.exact_issues:
        pinned.setdefault(i.step, []).append(i)
    table = Table("step", "text", "issues", show_lines=False)
    steps = c.proof.steps or []
    for s in steps[:60]:
        table.add_row(str(s.index), _bounded(s.text, 72), _issues_cell(pinned.get(s.index, []), verified))
    if len(steps) > 60:
        table.add_row("…", f"{len(steps) - 60} more steps", "")
    loose = pinned.get(None, []) + [i for k, v in pinned.items() if k is not None and k not in
                                    {s.index for s in steps} for i in v]
    if loose:
        table.add_row("-", "(not tied to a step)", _issues_cell(loose, verified))
    return table


def _issues_cell(issues: list[Issue], verified: bool) -> str:
    if not issues:
        return "no issue" if verified else "[dim]not verified[/dim]"
    lines = []
    for i in issues[:6]:
        meta = {True: " [green](confirmed)[/green]", False: " [red](rejected by meta)[/red]", None: ""}[i.confirmed]
        quote = f' "{_bounded(i.quote, 60)}"' if i.quote else ""
        lines.append(f"[bold]{escape(i.severity)}[/bold]{meta}{quote}: {_bounded(i.description, 160)}")
    if len(issues) > 6:
        lines.append(f"… {len(issues) - 6} more")
    return "\n".join(lines)
