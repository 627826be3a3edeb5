"""Shared test set-up. Triton kernels run under the interpreter on CPU; it must be set before triton is imported."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")
