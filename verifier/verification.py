"""What a grading of one proof says: issues pinned to steps, a score, and how the grading itself went."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

SEVERITIES = ("critical", "gap", "minor")
STATUSES = ("ok", "unparsed", "truncated", "error")


@dataclass
class Issue:
    severity: str  # critical | gap | minor
    description: str
    step: int | None = None  # Step.index the quote was found in
    quote: str | None = None
    confirmed: bool | None = None  # meta-verifier verdict; None = not meta-verified
    source: str = "model"  # model | symbolic | answer | lean
    evidence: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Issue":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Verification:
    score: float | None  # 0 | 0.5 | 1, None when unparsed
    issues: list[Issue] = field(default_factory=list)
    analysis: str = ""
    status: str = "ok"  # ok | unparsed | truncated | error
    usage: dict = field(default_factory=dict)
    meta_score: float | None = None  # meta-verifier's rating of this verification's issues

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Verification":
        d = dict(d)
        d["issues"] = [Issue.from_dict(i) for i in d.get("issues", [])]
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
