"""Real DeepSeekMath-V2 proofs: the 84 in ../shared/data when that folder is present, else the 10 the repository
ships in tests/data (see tests/real_data.py)."""
from __future__ import annotations

import pytest
from real_data import dsm_outputs, dsm_rows


@pytest.fixture(scope="session")
def real_proofs() -> list[dict]:
    rows = dsm_rows()
    assert rows, f"no DeepSeekMath-V2 outputs under {dsm_outputs().path}"
    return rows


@pytest.fixture(scope="session")
def full_data() -> bool:
    """True when the tests read the full sets from ../shared/data, False on the shipped subsets."""
    return dsm_outputs().full
