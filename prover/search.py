"""The search: generate a pool of proofs, verify each M times, meta-verify the issues, refine the best with
issue-first feedback, and stop when a proof passes (or the rounds or budgets run out).

Every model call goes through the run store with a key derived from its place in the search (round, candidate,
index), and every decision is a function of the recorded answers, so re-running a killed search with --resume
replays the finished calls from the store and issues only the missing ones.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ledger.calls import Call, CallRunner, OnEvent
from ledger.sampling import CallSampling
from ledger.store import DONE, RUNNING, RunStore
from model.backends.backend import Backend, Request
from problems.problem import Problem
from prover.candidate import Candidate, best, ranked
from prover.config import SearchConfig
from prover.draft import parse_draft
from prover.early_stop import Progress, settle
from prover.feedback import feedback_for
from verifier.grading import Graded, Grader, Settle, Subject
from verifier.prompts import Templates
from verifier.shapes import draft_shape
from verifier.steps import segment

PROMPTS = Path(__file__).parent / "prompts"  # the prover's own templates: generate, refine


@dataclass
class SearchResult:
    best: Candidate | None
    candidates: list[Candidate]
    rounds_used: int
    status: str  # accepted | exhausted | budget | rejected
    seconds: float
    stats: dict = field(default_factory=dict)


def run_identity(problem: Problem, config: SearchConfig, backend: Backend, templates: Templates) -> dict:
    """What makes a prove run what it is: `--resume` continues a run only with the same identity."""
    return {"kind": "prove", "problem": problem.to_dict(), "search": config.identity(), "backend": backend.name,
            "prompts": templates.extended(PROMPTS).fingerprint()}


def open_run(directory: str | Path, resume: bool, problem: Problem, config: SearchConfig, backend: Backend,
             templates: Templates) -> RunStore:
    """A new prove run in `directory`, or with `resume` the one there (refused when its identity differs)."""
    return RunStore.start(directory, run_identity(problem, config, backend, templates), resume)


class Search:
    def __init__(self, problem: Problem, config: SearchConfig, backend: Backend, store: RunStore,
                 templates: Templates, on_event: OnEvent | None = None):
        self.problem = problem
        self.config = config
        self.store = store
        self.templates = templates.extended(PROMPTS)
        self.on_event = on_event or (lambda e: None)
        self.calls = CallRunner(backend, store, problem.id, self.on_event)
        self.sampling = CallSampling(config.temperature, config.top_p, config.max_tokens, config.seed)
        # stage events go to whatever on_event is at the time (a live view is attached after construction)
        self.grader = Grader(self.templates, self.sampling, self.calls, on_event=lambda e: self.on_event(e),
                             structured=config.structured)
        self.rule = config.accept_rule
        self.skipped: list[dict] = []  # rounds not run, and why (shown in the progress and the summary)
        self.saved = {"verifications": 0, "tokens": 0}  # what --early-stop did not spend (tokens estimated)
        self.started = time.monotonic()

    # ---- requests ----
    def _request(self, key: str, template: str, **values: str) -> Request:
        sampling = self.sampling.for_key(key)
        if self.config.structured and self.templates.is_builtin(template):  # a user's template keeps free text
            sampling = replace(sampling, structure=draft_shape())
        return self.templates.request(template, sampling, **values)

    # ---- stages ----
    def _draft_stage(self, round_: int, calls: list[Call], parents: list[list[str]]) -> list[Candidate]:
        completions = self.calls.run(calls, status_of=lambda c: parse_draft(c).status)
        out = []
        for i, completion in enumerate(completions):
            draft = parse_draft(completion)
            cand = Candidate(id=f"r{round_}c{i}", problem_id=self.problem.id, round=round_, parent_ids=parents[i],
                             proof=segment(draft.proof), self_score=draft.self_score, status=draft.status)
            out.append(cand)
        return out

    def _verify_stage(self, cands: list[Candidate], earlier: list[Candidate]) -> None:
        """One call down: the verifier grades every verifiable proof of the round (verify, meta, exact checks)."""
        todo = [c for c in cands if c.verifiable]
        subjects = [Subject(c.id, c.proof, c.id, c.round) for c in todo]
        graded = self.grader.grade(self.problem, subjects, self.config.verifications, self.config.meta,
                                   self.config.exact, self._settle(todo, earlier) if self.config.early_stop else None)
        for c, g in zip(todo, graded):
            c.verifications, c.skipped_verifications = g.verifications, g.skipped
            self._count_saved(g)
            if g.evidence is not None:
                c.exact_issues, c.evidence = g.evidence.issues, g.evidence.to_dict()
        for c in todo:
            # exact evidence outranks the graders: a proof with a refuted step is never accepted
            c.accepted = self.rule.passes(c.scores, self.config.verifications) and not c.exact_issues
            self.store.save_candidate(c.to_dict())
            self.on_event({"type": "candidate", "candidate": c})
        for c in cands:
            if not c.verifiable:
                self.store.save_candidate(c.to_dict())
                self.on_event({"type": "candidate", "candidate": c})

    def _settle(self, todo: list[Candidate], earlier: list[Candidate]) -> Settle:
        """--early-stop: after each wave of verifications, the proofs of `todo` whose verdict is settled."""
        m = self.config.verifications

        def settled(graded: list[Graded]) -> set[int]:
            progress = [Progress(replace(c, exact_issues=g.evidence.issues if g.evidence else []),
                                 tuple(v.score for v in g.verifications), m - len(g.verifications) - g.skipped)
                        for c, g in zip(todo, graded)]
            done = settle(self.rule, m, self.config.refine_top, progress, earlier).proofs
            return {i for i, c in enumerate(todo) if c.id in done}
        return settled

    def _count_saved(self, g: Graded) -> None:
        if not g.skipped:
            return
        used = [v.usage.get("prompt_tokens", 0) + v.usage.get("completion_tokens", 0) for v in g.verifications]
        self.saved["verifications"] += g.skipped
        self.saved["tokens"] += round(g.skipped * sum(used) / max(1, len(used)))

    # ---- the loop ----
    def _out_of_budget(self) -> bool:
        cfg = self.config
        if cfg.time_budget is not None and time.monotonic() - self.started > cfg.time_budget:
            return True
        return cfg.token_budget is not None and self.store.total_tokens() >= cfg.token_budget

    def run(self) -> SearchResult:
        cfg = self.config
        pool: list[Candidate] = []
        status, rounds_used, failed_rounds = "exhausted", 0, 0
        self.store.set_meta("status", RUNNING)  # again on --resume of an interrupted run
        for round_ in range(cfg.rounds):
            if self._out_of_budget():
                status = "budget"
                break
            if round_ == 0:
                calls = [Call(f"r0/generate/{i}", "generate", f"r0c{i}", 0,
                              self._request(f"r0/generate/{i}", "generate", problem=self.problem.statement))
                         for i in range(cfg.candidates)]
                parents: list[list[str]] = [[] for _ in calls]
            else:
                calls, parents = self._refine_calls(round_, pool)
                if not calls:
                    reason = ("nothing to refine: no verification of the best proofs was parsed and no exact check "
                              "flagged them")
                    self.skipped.append({"round": round_, "reason": reason})
                    self.on_event({"type": "skipped", "round": round_, "reason": reason})
                    break
            self.on_event({"type": "stage", "stage": "generate" if round_ == 0 else "refine", "round": round_,
                           "n": len(calls)})
            fresh = self._draft_stage(round_, calls, parents)
            pool.extend(fresh)
            rounds_used = round_ + 1
            if self._out_of_budget():
                status = "budget"
                break
            self._verify_stage(fresh, pool[:len(pool) - len(fresh)])
            if any(c.accepted for c in fresh):
                status = "accepted"
                break
            top = best(fresh)
            failed_rounds = failed_rounds + 1 if top is None or (top.mean_score or 0) < 1 else 0
            if self.rule.f and failed_rounds >= self.rule.f:
                status = "rejected"
                break
        winner = best(pool)
        result = SearchResult(winner, pool, rounds_used, status, time.monotonic() - self.started,
                              self.store.call_stats())
        result.stats["skipped_rounds"] = list(self.skipped)
        if cfg.early_stop:
            result.stats["early_stop"] = {"verifications_not_issued": self.saved["verifications"],
                                          "tokens_saved_estimate": self.saved["tokens"]}
        self.store.set_meta("result", {"status": status, "rounds_used": rounds_used, "skipped": self.skipped,
                                       "early_stop": result.stats.get("early_stop"),
                                       "best": winner.id if winner else None,
                                       "mean_score": winner.mean_score if winner else None})
        self.store.set_meta("status", DONE)
        self.on_event({"type": "done", "result": result})
        return result

    def _refine_calls(self, round_: int, pool: list[Candidate]) -> tuple[list[Call], list[list[str]]]:
        """One refinement per (top proof, feedback) pair: the best proofs so far, each with its most critical
        verifications (lowest scores first; only issues the meta-verifier confirmed when it is on)."""
        calls: list[Call] = []
        parents: list[list[str]] = []
        for parent in ranked(pool)[: self.config.refine_top]:
            for feedback in feedback_for(parent, self.config.feedback_per_proof, self.config.meta):
                i = len(calls)
                key = f"r{round_}/refine/{i}"
                calls.append(Call(key, "refine", f"r{round_}c{i}", round_,
                                  self._request(key, "refine", problem=self.problem.statement,
                                                proof=parent.proof.text, feedback=feedback)))
                parents.append([parent.id])
        return calls, parents
