"""The Problem: one competition problem, whatever file or set it came from."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    id: str
    statement: str
    reference_solution: str | None = None
    grading_guidelines: str | None = None
    answer: str | None = None
    source: str = ""
    max_points: int | None = None
    lean_statement: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)
