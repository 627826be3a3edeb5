"""What `proofloop prove` shows: the live line with tokens arriving, and the final verdict (steps with their issues,
scores, meta verdicts, refinement, status and what to do) in the terminal; "not verified" in terminal and HTML."""
from __future__ import annotations

import io

from rich.console import Console

from ledger.store import RunStore
from prover.candidate import Candidate
from prover.search import SearchResult
from report.build import render_run
from report.live import SearchView
from report.terminal import print_prove_summary
from verifier.steps import segment
from verifier.verification import Issue, Verification

PROOF = "**Step 1.** Let $n \\ge 3$.\n\n**Step 2.** Then 2 + 2 = 5.\n\n**Step 3.** Done."
HOSTILE = "[bold red]pwned[/bold red] [link=http://x]click[/link] " + "x" * 5000


def console() -> Console:
    return Console(file=io.StringIO(), width=140, color_system=None, record=True)


def candidate(cid: str, parents: list[str], verifications: list[Verification], round_: int = 0) -> Candidate:
    return Candidate(cid, "demo/1", round_, parents, segment(PROOF), None, "ok", verifications)


def graded() -> tuple[Candidate, Candidate]:
    parent = candidate("r0c0", [], [Verification(0.0, [Issue("critical", "wrong sum", step=2, quote="2 + 2 = 5",
                                                              confirmed=True)])])
    child = candidate("r1c0", ["r0c0"], [
        Verification(0.5, [Issue("gap", HOSTILE, step=2, quote="[red]2 + 2[/red]", confirmed=True),
                           Issue("minor", "style", step=2, confirmed=False)], meta_score=0.5),
        Verification(None, status="unparsed")], round_=1)
    return parent, child


def test_summary_pins_issues_on_steps_and_says_what_refinement_changed():
    parent, child = graded()
    result = SearchResult(child, [parent, child], 2, "exhausted", 1.0,
                          {"skipped_rounds": [{"round": 2, "reason": "nothing to refine: no verification parsed"}]})
    out = console()
    print_prove_summary(out, "demo/1", result, "/runs/r", "/runs/r/report.html", rounds=3)
    text = out.export_text()
    assert "best proof r1c0" in text and "mean score 0.5 over 1 parsed of 2" in text
    assert "verification 1: 0.5 (ok, meta 0.5)" in text and "verification 2: - (unparsed)" in text
    assert "gap (confirmed)" in text and "minor (rejected by meta)" in text and "no issue" in text
    assert "refined: r0c0 -> r1c0, score 0 -> 0.5" in text
    assert "round 2 skipped: nothing to refine" in text
    assert "status: exhausted: no proof reached the accept rule within 3 round(s)" in text and "--rounds" in text
    assert "run: /runs/r" in text and "report: /runs/r/report.html" in text
    # hostile model text is shown as text (markup escaped), and bounded
    assert "[bold red]pwned[/bold red]" in text and "[link=http://x]click[/link]" in text
    assert '"[red]2 + 2[/red]"' in text and "x" * 400 not in text


def test_without_a_parsed_verification_steps_are_not_verified(tmp_path):
    lone = candidate("r0c0", [], [Verification(None, status="unparsed"), Verification(None, status="error")])
    out = console()
    print_prove_summary(out, "demo/1", SearchResult(lone, [lone], 1, "exhausted", 1.0, {}), "/r", None, rounds=1)
    text = out.export_text()
    assert text.count("not verified") == 3 and "no issue" not in text and "report:" not in text

    store = RunStore.create(tmp_path / "run", {"kind": "prove", "problem": {"id": "demo/1", "statement": "S"}})
    store.save_candidate(lone.to_dict())
    store.set_meta("result", {"status": "exhausted", "rounds_used": 1, "best": "r0c0", "mean_score": None})
    store.set_meta("status", "done")
    store.close()
    html, _ = render_run(tmp_path / "run")
    assert html.count(">not verified<") >= 3 and ">no issue<" not in html


def test_live_line_shows_tokens_arriving_before_calls_finish():
    out = console()
    view = SearchView(out, "demo/1")
    view.event({"type": "stage", "stage": "generate", "round": 0})
    view.event({"type": "calls", "kind": "generate", "total": 2, "reused": 0})
    for _ in range(3):
        view.event({"type": "tokens", "kind": "generate", "n": 104})
    view.event({"type": "skipped", "round": 1, "reason": "nothing to refine"})
    frame = console()
    frame.print(view._render())
    text = frame.export_text()
    assert "generate (round 0): calls 0/2 · 312 tokens ·" in text and "tok/s" in text
    assert "round 1 skipped: nothing to refine" in text
