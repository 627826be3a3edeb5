"""Sampling for a job's calls: the one recipe for a call's seed, from the run's base seed and the call's key."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from model.backends.backend import Sampling


def stable_seed(base: int | None, key: str) -> int | None:
    """One seed per call from the run's base seed and the call's key, so a resumed run asks the same questions."""
    if base is None:
        return None
    return int(hashlib.sha256(f"{base}/{key}".encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class CallSampling:
    """A job's sampling settings; `for_key` gives one call's, with that call's own stable seed."""
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 4096
    seed: int | None = None

    def for_key(self, key: str) -> Sampling:
        return Sampling(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
                        seed=stable_seed(self.seed, key))
