"""A candidate proof in the search pool, with its verifications and where it came from."""
from __future__ import annotations

from dataclasses import dataclass, field

from verifier.proof import Proof, Step
from verifier.verification import Issue, Verification

NO_MEAN = -1.0  # the rank key's mean for a proof with no parsed verification


@dataclass
class Candidate:
    id: str
    problem_id: str
    round: int
    parent_ids: list[str]
    proof: Proof
    self_score: float | None
    status: str  # the generator call's status: ok | unparsed | truncated | error
    verifications: list[Verification] = field(default_factory=list)
    accepted: bool = False
    exact_issues: list[Issue] = field(default_factory=list)  # refuted steps, wrong final answer: no model needed
    evidence: dict | None = None  # the exact checks in full (per-step claims and verdicts), for reports
    skipped_verifications: int = 0  # not issued: --early-stop found the verdict settled without them

    @property
    def scores(self) -> list[float | None]:
        return [v.score for v in self.verifications]

    @property
    def mean_score(self) -> float | None:
        graded = [s for s in self.scores if s is not None]
        return sum(graded) / len(graded) if graded else None

    @property
    def verifiable(self) -> bool:
        return bool(self.proof.text.strip()) and self.status != "error"

    def rank_key(self) -> tuple:
        """Higher is better: accepted, no exact refutation, mean verification score, self-score, later round."""
        return self.key_with(self.accepted, self.mean_score if self.mean_score is not None else NO_MEAN)

    def key_with(self, accepted: bool, mean: float) -> tuple:
        """The rank key this proof would have with that acceptance and mean (--early-stop bounds it so)."""
        self_s = self.self_score if self.self_score is not None else -1.0
        return (accepted, not self.exact_issues, mean, self_s, self.round)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "problem_id": self.problem_id, "round": self.round, "parent_ids": self.parent_ids,
            "proof": self.proof.text, "steps": [vars(s) for s in self.proof.steps],
            "self_score": self.self_score, "status": self.status, "accepted": self.accepted,
            "mean_score": self.mean_score, "verifications": [v.to_dict() for v in self.verifications],
            "exact_issues": [i.to_dict() for i in self.exact_issues], "evidence": self.evidence,
            "skipped_verifications": self.skipped_verifications,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Candidate:
        proof = Proof(d["proof"], [Step(**s) for s in d.get("steps", [])])
        return cls(d["id"], d["problem_id"], d["round"], list(d["parent_ids"]), proof, d["self_score"], d["status"],
                   [Verification.from_dict(v) for v in d["verifications"]], d.get("accepted", False),
                   [Issue.from_dict(i) for i in d.get("exact_issues", [])], d.get("evidence"),
                   d.get("skipped_verifications", 0))


def best(candidates: list[Candidate]) -> Candidate | None:
    usable = [c for c in candidates if c.verifiable]
    return max(usable, key=Candidate.rank_key) if usable else None


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    return sorted((c for c in candidates if c.verifiable), key=Candidate.rank_key, reverse=True)
