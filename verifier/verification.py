"""What a grading of one proof says: issues pinned to steps, a score, and how the grading itself went."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

SEVERITIES = ("critical", "gap", "minor")
# rubric_mismatch: the answer gave a grade on another scale than the rubric asked for (e.g. 5/7 when 0 | 0.5 | 1
# was asked); it has no score, like unparsed, and is counted on its own
STATUSES = ("ok", "unparsed", "truncated", "error", "rubric_mismatch")
# whether the answer said anything about issues: found | none_found (it says there are none) |
# none_reported (it says nothing: an empty list that must not read as a clean proof) | unparsed
ISSUES_STATUSES = ("found", "none_found", "none_reported", "unparsed")


@dataclass
class Issue:
    severity: str  # critical | gap | minor
    description: str
    step: int | None = None  # Step.index the quote was found in
    quote: str | None = None
    confirmed: bool | None = None  # meta-verifier verdict; None = not meta-verified
    source: str = "model"  # model | symbolic | answer | lean
    evidence: str | None = None
    anchor: str | None = None  # how the quote was found: exact | fuzzy | unanchored; None without a quote

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Issue:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Verification:
    score: float | None  # 0 | 0.5 | 1, None when unparsed
    issues: list[Issue] = field(default_factory=list)
    analysis: str = ""
    status: str = "ok"  # ok | unparsed | truncated | error | rubric_mismatch
    usage: dict = field(default_factory=dict)
    meta_score: float | None = None  # meta-verifier's rating of this verification's issues
    issues_status: str = "none_reported"  # see ISSUES_STATUSES

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Verification:
        d = dict(d)
        d["issues"] = [Issue.from_dict(i) for i in d.get("issues", [])]
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
