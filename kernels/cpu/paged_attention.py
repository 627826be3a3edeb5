"""Decode attention straight from the paged GQA cache on CPU: a C++ kernel, with RoPE and the cache write in front.

A decode step has one query per sequence; its attention is a few MFLOP, yet through torch it cost two gathers of
every row's blocks per layer plus `scaled_dot_product_attention` (~0.25 ms a layer at batch 16, a fifth of the
step). `paged_decode` reads each key and value where it lies in the pool, through the block table, with the softmax
in float32 per (sequence, head): no gather, no temporaries. On AVX-512 (head_dim 64 or 128) it takes 16 tokens at a
time and prefetches the next 16, since the cache is cold after a step's weights streamed through.
`rope_store_decode` also does the RoPE and the cache write before it (layer_ops.cpp has the rest of a layer's work
between its GEMMs). The C++ is paged_attention.cpp, built with the other CPU kernels (kernels/cpu/build.py); without
a compiler, or with PROOFLOOP_NATIVE=0, `kernel()` is None and the callers keep their torch paths.
"""
from __future__ import annotations

import torch

from kernels.cpu import build


def kernel():
    """The compiled `paged_decode(q, kpool, vpool, blocks, lens, block_size, scale)`, or None if unavailable."""
    mod = build.module()
    return None if mod is None else mod.paged_decode


def usable(device: torch.device, dtype: torch.dtype) -> bool:
    return device.type == "cpu" and dtype == torch.float32 and kernel() is not None
