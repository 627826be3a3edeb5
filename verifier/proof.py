"""A proof and its steps: character spans into the proof text, so issues and checks can be drawn on it."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    index: int  # 1-based, as shown to readers
    text: str
    start: int
    end: int


@dataclass
class Proof:
    text: str
    steps: list[Step] = field(default_factory=list)

    def step_at(self, offset: int) -> Step | None:
        for step in self.steps:
            if step.start <= offset < step.end:
                return step
        return None
