"""Decode-sized float32 GEMMs on CPU (AVX-512): y[M, N] = x[M, K] @ W[N, K]^T for M from 1 to a few dozen rows.

A decode step at batch 16 reads every weight once from memory and does 32 FLOP per weight; oneDNN runs that at
~140 GFLOP/s on this kind of core, though the same GEMM with the weights already in cache runs at ~195. The missing
part is memory latency: its reads are not started early enough. Here the weights are packed once into panels of 24
output rows ([P, K, 24]: one panel is one contiguous stream) and every k step prefetches the panel 8 KB ahead, so
memory and FMAs overlap (~185 GFLOP/s, 1.4x oneDNN at 16 rows; `proofloop bench cpu` measures it). The C++ is
panel_gemm.cpp, built with the other CPU kernels (kernels/cpu/build.py).

Two inner kernels over the same panels:
- `wide`, 16 rows at a time: x is transposed so one zmm holds x[0:16, k], and each of the panel's 24 weights at k is
  one broadcast FMA into its own accumulator (24 of the 32 registers).
- `narrow`, 1 to 8 rows: the usual form, one broadcast of x[m, k] against the panel's 24 weights (a zmm and a ymm).
"""
from __future__ import annotations

import torch

from kernels.cpu import build

PANEL = 24  # output rows per panel: divides the hidden, MLP, attention and vocabulary sizes of the models we run


def pack(weight: torch.Tensor) -> torch.Tensor:
    """W [N, K] -> panels [ceil(N / 24), K, 24], the rows past N zero."""
    n, k = weight.shape
    p = -(-n // PANEL)
    padded = torch.zeros(p * PANEL, k, dtype=torch.float32)
    padded[:n] = weight.detach().float()
    return padded.view(p, PANEL, k).transpose(1, 2).contiguous()


def kernel():
    """The compiled `panel_linear(x, panels, N)`, or None where there is no compiler or no AVX-512."""
    mod = build.module()
    if mod is None or not mod.panel_gemm_supported():
        return None
    return mod.panel_linear


def why_unavailable() -> str | None:
    """Why kernel() is None, in words for the engine's start line; None when the kernel is there."""
    import os

    mod = build.module()
    if mod is None:
        off = os.environ.get("PROOFLOOP_NATIVE", "1") == "0"
        return "PROOFLOOP_NATIVE=0" if off else "the C++ CPU kernels did not build"
    if not mod.panel_gemm_supported():
        return "this CPU has no AVX-512"
    return None


def reference(x: torch.Tensor, panels: torch.Tensor, n: int) -> torch.Tensor:
    """What the kernel computes, in torch: the test oracle."""
    p, k, nb = panels.shape
    return x @ panels.transpose(1, 2).reshape(p * nb, k)[:n].T
