"""Where the tests find real data: the full sets in ../shared/data when that folder is beside the repository (as on
the team's machines), otherwise the small subsets the repository ships (a fresh clone). Tests that count things
assert the full set's figures on the full set and the subset's own figures on the subset.

The subsets (listed with their licenses in problems/data/NOTICE):
- tests/data/deepseek-math-v2/*.jsonl: the first and the last proof of each DeepSeekMath-V2 outputs file (10 of 84).
- problems/data/gradingbench_sample.csv: the first three responses at each human grade 0, 1, 6, 7 of the
  IMO-GradingBench training subset, in the file's order (12 of 100); the README's `proofloop grade` example uses it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Source:
    path: Path
    full: bool  # True: the whole set from ../shared/data; False: the shipped subset


def _pick(shared: Path, bundled: Path) -> Source:
    return Source(shared, True) if shared.exists() else Source(bundled, False)


def dsm_outputs() -> Source:
    """The folder of DeepSeekMath-V2 outputs (*.jsonl: question, problem_idx, model_prediction)."""
    return _pick(SHARED / "deepseek-math-v2" / "outputs", ROOT / "tests" / "data" / "deepseek-math-v2")


def gradingbench() -> Source:
    """The IMO-GradingBench CSV with human grades."""
    return _pick(SHARED / "gradingbench" / "gradingbench_filtered_100_train.csv",
                 ROOT / "problems" / "data" / "gradingbench_sample.csv")


def proofbench_csv() -> Path:
    """IMO-ProofBench (problems, reference solutions, guidelines): the repository ships it unmodified."""
    return ROOT / "problems" / "data" / "proofbench_v2.csv"


def dsm_rows() -> list[dict]:
    """Every DeepSeekMath-V2 output row, files in name order."""
    rows = []
    for path in sorted(dsm_outputs().path.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows
