"""Exact evidence about one proof, in one call: per-step symbolic verdicts, the answer check and a Lean check.

`exact_evidence(problem, proof)` needs no model. Its `issues` (critical, source symbolic | answer | lean,
confirmed=True) can be merged with a model verifier's issues and fed back into refinement like any other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from problems.problem import Problem
from verifier.answer import AnswerCheck, answer_issue, check_answer
from verifier.lean import LeanResult, check_lean, formal_source, lean_issues
from verifier.proof import Proof
from verifier.steps import segment
from verifier.symbolic import StepResult, check_proof, refutation_issues
from verifier.verification import Issue


@dataclass
class Evidence:
    proof: Proof
    steps: list[StepResult] = field(default_factory=list)  # empty when symbolic checks were off
    answer: AnswerCheck | None = None
    lean: LeanResult | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def refuted_steps(self) -> list[int]:
        return [s.step for s in self.steps if s.verdict == "refuted"]

    def counts(self) -> dict:
        out = {"confirmed": 0, "refuted": 0, "unchecked": 0}
        for s in self.steps:
            for c in s.claims:
                out[c.verdict] += 1
        return out

    def to_dict(self) -> dict:
        by_step = {s.step: s for s in self.steps}
        steps = []
        for st in self.proof.steps:
            res = by_step.get(st.index)
            steps.append({
                "index": st.index, "start": st.start, "end": st.end,
                "verdict": res.verdict if res else None,
                "claims": [c.to_dict() for c in res.claims] if res else [],
            })
        return {
            "steps": steps,
            "claims": self.counts(),
            "refuted_steps": self.refuted_steps,
            "answer": self.answer.to_dict() if self.answer else None,
            "lean": self.lean.to_dict() if self.lean else None,
            "issues": [i.to_dict() for i in self.issues],
        }


def exact_evidence(problem: Problem | None, proof: Proof | str, *, symbolic: bool = True, answer: bool = True,
                   lean: bool = False, lean_project: str | Path | None = None,
                   lean_timeout: float = 300.0) -> Evidence:
    """Everything that can be checked exactly about `proof` (a Proof or its text) for `problem`."""
    if isinstance(proof, str):
        proof = segment(proof)
    elif not proof.steps and proof.text.strip():
        proof = segment(proof.text)
    ev = Evidence(proof)
    if symbolic:
        ev.steps = check_proof(proof)
        ev.issues.extend(refutation_issues(proof, ev.steps))
    if answer and problem is not None and problem.answer:
        ev.answer = check_answer(problem.answer, proof)
        issue = answer_issue(ev.answer)
        if issue:
            ev.issues.append(issue)
    if lean:
        source, note = formal_source(proof.text, problem.lean_statement if problem else None)
        if source is None:
            ev.lean = LeanResult("rejected" if "does not state" in note else "unavailable", note)
        else:
            ev.lean = check_lean(source, project=lean_project, timeout=lean_timeout)
        ev.issues.extend(lean_issues(ev.lean))
    return ev
