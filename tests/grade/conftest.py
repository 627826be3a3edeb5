import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
GRADINGBENCH = DATA / "gradingbench" / "gradingbench_filtered_100_train.csv"
DSM_OUTPUTS = DATA / "deepseek-math-v2" / "outputs"
PROOFBENCH = DATA / "imobench" / "proofbench_v2.csv"


@pytest.fixture
def gradingbench() -> Path:
    if not GRADINGBENCH.is_file():
        pytest.skip(f"no GradingBench subset at {GRADINGBENCH}")
    return GRADINGBENCH


@pytest.fixture
def dsm_outputs() -> Path:
    if not DSM_OUTPUTS.is_dir():
        pytest.skip(f"no DeepSeekMath-V2 outputs at {DSM_OUTPUTS}")
    return DSM_OUTPUTS
