"""Terminal rendering (rich) of one graded proof: what `proofloop verify` prints without --json."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from verifier.evidence import Evidence
from verifier.proof import Proof
from verifier.verification import Verification

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
