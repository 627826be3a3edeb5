import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import real_data  # noqa: E402


@pytest.fixture
def gradingbench_set() -> real_data.Source:
    """The GradingBench CSV: the 100 of ../shared/data, or the 12 in problems/data (tests/real_data.py)."""
    return real_data.gradingbench()


@pytest.fixture
def gradingbench(gradingbench_set) -> Path:
    return gradingbench_set.path


@pytest.fixture
def dsm_outputs() -> Path:
    return real_data.dsm_outputs().path
