"""The C++ CPU kernels, compiled together into one extension on first use.

Each kernel's file holds its source (model/paged_attention_cpu.py, model/cpu_gemm.py, model/cpu_layer_ops.py); one
build compiles them all, so a fresh machine pays torch's extension build (~30 s, cached in ~/.cache/torch_extensions)
once rather than per kernel. Without a compiler, or with PROOFLOOP_NATIVE=0, `module()` is None and callers keep
their torch paths.
"""
from __future__ import annotations

import os
import sys

_module = None
_tried = False


def module():
    global _module, _tried
    if not _tried:
        _tried = True
        if os.environ.get("PROOFLOOP_NATIVE", "1") != "0":
            from kernels.cpu import gemm as cpu_gemm
            from kernels.cpu import layer_ops as cpu_layer_ops
            from kernels.cpu import paged_attention as paged_attention_cpu

            try:
                from torch.utils.cpp_extension import load_inline

                _say_if_building()
                _module = load_inline("proofloop_native", cpp_sources=[paged_attention_cpu.SOURCE, cpu_gemm.SOURCE,
                                                                         cpu_layer_ops.SOURCE],
                                      functions=paged_attention_cpu.FUNCTIONS + cpu_gemm.FUNCTIONS +
                                      cpu_layer_ops.FUNCTIONS,
                                      extra_cflags=["-O3", "-march=native", "-fopenmp", "-ffast-math"],
                                      extra_ldflags=["-lmvec"], verbose=False)
            except Exception:  # no compiler or headers: the torch paths still work
                _module = None
    return _module


def _say_if_building() -> None:
    """One line on stderr before a first build, which takes ~30 s with no other sign of life."""
    try:
        from torch.utils.cpp_extension import _get_build_directory

        built = any(f.endswith(".so") for f in os.listdir(_get_build_directory("proofloop_native", False)))
    except Exception:
        built = False
    if not built:
        print("proofloop: compiling the CPU kernels (once, about 30 s)...", file=sys.stderr, flush=True)
