"""Choosing what a refinement is told: issue-first, the harshest verifications first."""
from __future__ import annotations

from prover.candidate import Candidate
from verifier.verification import Issue, Verification


def usable_issues(v: Verification, meta: bool) -> list[Issue]:
    """Issues worth acting on: with the meta-verifier on, only those it confirmed; exact-check issues always."""
    return [i for i in v.issues if not meta or i.confirmed or i.source != "model"]


def render_issues(issues: list[Issue]) -> str:
    lines = []
    for i in issues:
        where = f" (step {i.step})" if i.step is not None else ""
        quote = f' "{i.quote}"' if i.quote else ""
        evidence = f" [evidence: {i.evidence}]" if i.evidence else ""
        lines.append(f"- [{i.severity}]{where}{quote}: {i.description}{evidence}")
    return "\n".join(lines)


def feedback_for(candidate: Candidate, limit: int, meta: bool) -> list[str]:
    """Up to `limit` feedback texts for refining this candidate, one per verification, lowest score first.
    Exact-check issues (a refuted computation, a wrong final answer) go into every one of them."""
    exact = render_issues(candidate.exact_issues)
    exact_part = f"\nChecked exactly by computer algebra:\n{exact}" if exact else ""
    graded = [v for v in candidate.verifications if v.status == "ok"]
    graded.sort(key=lambda v: v.score if v.score is not None else 1.0)
    out = []
    for v in graded:
        issues = usable_issues(v, meta)
        if not issues and v.score == 1.0:
            continue
        if issues:
            text = f"Score given: {v.score}\nIssues found:\n{render_issues(issues)}"
        elif not meta:
            text = f"Score given: {v.score}\n{v.analysis.strip()}"
        else:
            continue  # every issue it raised was judged unfounded
        out.append(text + exact_part)
        if len(out) == limit:
            break
    if not out and exact:  # the graders passed it, the exact checks did not
        out.append(exact_part.lstrip("\n"))
    if not out:  # no grading could be read at all: pass on what the graders wrote, as it is
        for v in candidate.verifications:
            if v.status == "unparsed" and v.analysis.strip():
                out.append(f"(The grader's answer did not follow the format; its text:)\n{v.analysis.strip()[:4000]}")
                if len(out) == limit:
                    break
    return out
