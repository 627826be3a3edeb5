"""Triton kernels for the engine's hot path, each beside a plain-PyTorch reference of the same op.

Public ops (see kernels.ops): hadamard, act_quant, fp8_gemm, indexer_logits, indexer_logits_fp8, topk_indices,
sparse_mla_decode, fused_moe, rmsnorm, rope, paged_rows; use_backend / current_backend choose Triton or the
references.
Importing this package loads nothing (not even torch): names resolve on first access. It deliberately has no
__version__, so transformers' probe for the Hugging Face `kernels` library never mistakes it for that.

Each op lives in a submodule of the same name (kernels/hadamard.py holds hadamard_ref and hadamard_triton). Python
binds a submodule to its parent's attribute when first imported, which would shadow the public function of that
name; the package's module class refuses that binding, so `kernels.hadamard` is always the function. Reach a
submodule with `from kernels.hadamard import hadamard_ref` or importlib.import_module("kernels.hadamard").
"""
from __future__ import annotations

import importlib
import sys
import types

__all__ = ["hadamard", "act_quant", "fp8_gemm", "indexer_logits", "indexer_logits_fp8", "topk_indices",
           "sparse_mla_decode", "fused_moe", "rmsnorm", "rope", "paged_rows", "use_backend", "current_backend",
           "KernelError"]


def __getattr__(name: str):
    if name == "KernelError":
        return importlib.import_module("kernels.errors").KernelError
    if name in __all__:
        return getattr(importlib.import_module("kernels.ops"), name)
    raise AttributeError(f"module 'kernels' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return  # a submodule named like a public op: leave the name to the op
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
