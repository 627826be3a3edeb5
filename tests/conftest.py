"""Shared test set-up. Triton kernels run under the interpreter on CPU; it must be set before triton is imported."""
import os
import sys
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")

# Shared test helpers (tests/openai_server.py) are importable from every test folder.
TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# No property test may fail because the machine is slow: hypothesis's per-example deadline and its too-slow health
# check are off for every test (the examples are bounded by count, `max_examples`).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("proofloop", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("proofloop")
