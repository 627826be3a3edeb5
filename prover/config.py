"""How much test-time compute a search spends, and when it stops."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from prover.errors import ProverError


@dataclass(frozen=True)
class AcceptRule:
    """`all`: a proof passes when every one of its M verifications scores 1.
    `consecutive:K[:F]` (the IMO25 agent's rule): a proof passes after K passing verifications in a row; the search
    gives up after F rounds in a row whose best proof failed."""
    kind: str = "all"
    k: int = 0
    f: int = 0

    @classmethod
    def parse(cls, text: str) -> AcceptRule:
        text = text.strip().lower()
        if text == "all":
            return cls("all")
        m = re.fullmatch(r"consecutive:(\d+)(?::(\d+))?", text)
        if not m or int(m.group(1)) < 1:
            raise ProverError(f"--accept {text!r}: expected 'all' or 'consecutive:K' or 'consecutive:K:F' (K, F >= 1)")
        return cls("consecutive", int(m.group(1)), int(m.group(2) or 0))

    def __str__(self) -> str:
        if self.kind == "all":
            return "all"
        return f"consecutive:{self.k}" + (f":{self.f}" if self.f else "")

    def passes(self, scores: list[float | None], m: int) -> bool:
        if self.kind == "all":
            return len(scores) == m and m > 0 and all(s == 1.0 for s in scores)
        run = best = 0
        for s in scores:
            run = run + 1 if s == 1.0 else 0
            best = max(best, run)
        return best >= self.k


@dataclass(frozen=True)
class SearchConfig:
    candidates: int = 4
    verifications: int = 4
    rounds: int = 3
    refine_top: int = 2
    feedback_per_proof: int = 2
    accept: str = "all"
    meta: bool = True
    exact: bool = True  # symbolic step checks and the final-answer check on every proof
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 8192  # per call
    seed: int | None = None
    structured: bool = False  # answers in the built-in templates' shapes (grammar-constrained on a local engine)
    early_stop: bool = False  # stop a proof's verifications once its verdict is settled (prover/early_stop.py)
    # Budgets: not part of a run's identity, so a resumed run may be given more.
    token_budget: int | None = None  # prompt + completion tokens over the whole run
    time_budget: float | None = None  # seconds of this invocation

    def __post_init__(self) -> None:
        for name in ("candidates", "verifications", "rounds", "refine_top", "feedback_per_proof", "max_tokens"):
            if getattr(self, name) < 1:
                raise ProverError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if not 0 <= self.temperature <= 2:
            raise ProverError(f"--temperature must be in [0, 2] (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise ProverError(f"--top-p must be in (0, 1] (got {self.top_p})")
        rule = self.accept_rule
        if rule.kind == "consecutive" and rule.k > self.verifications:
            raise ProverError(f"--accept {rule}: K={rule.k} passes in a row need at least {rule.k} verifications "
                              f"per proof (got --verifications {self.verifications})")

    @property
    def accept_rule(self) -> AcceptRule:
        return AcceptRule.parse(self.accept)

    def identity(self) -> dict:
        """The fields that make a run what it is (a resume must match them)."""
        d = asdict(self)
        d.pop("token_budget")
        d.pop("time_budget")
        if not self.structured:
            d.pop("structured")  # free text: the identity runs had before structured outputs existed
        if not self.early_stop:
            d.pop("early_stop")  # every verification: the identity runs had before early stop existed
        return d
