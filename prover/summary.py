"""The one-object summary of a finished search (what `proofloop prove --json` prints)."""
from __future__ import annotations

from problems.problem import Problem
from prover.search import SearchResult


def summary(problem: Problem, result: SearchResult, run_dir: str) -> dict:
    b = result.best
    return {
        "problem_id": problem.id,
        "status": result.status,
        "best_candidate": b.id if b else None,
        "proof": b.proof.text if b else None,
        "mean_score": b.mean_score if b else None,
        "self_score": b.self_score if b else None,
        "verifications": len(b.verifications) if b else 0,
        "verification_scores": b.scores if b else [],
        "exact_issues": [i.to_dict() for i in b.exact_issues] if b else [],
        "rounds_used": result.rounds_used,
        "candidates": len(result.candidates),
        "calls": result.stats.get("calls", {}),
        "tokens": result.stats.get("tokens", {}),
        "early_stop": result.stats.get("early_stop"),
        "seconds": round(result.seconds, 3),
        "run": run_dir,
    }
