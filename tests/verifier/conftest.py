"""Real DeepSeekMath-V2 proofs from ../shared/data, when that folder is present (tests using them skip otherwise)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "deepseek-math-v2" / "outputs"


def load_real_proofs() -> list[dict]:
    rows = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


@pytest.fixture(scope="session")
def real_proofs() -> list[dict]:
    rows = load_real_proofs()
    if not rows:
        pytest.skip(f"no DeepSeekMath-V2 outputs under {DATA}")
    return rows
