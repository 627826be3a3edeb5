"""Faster float32 linear layers on CPU: weights packed once into oneDNN's blocked layout.

`F.linear` re-lays out the weight for the GEMM on every call; a decode step calls each small projection once per
token, so that repacking is a large part of its time (2-3x at batch 16, and for the 49k-row lm_head). Packing once
when the engine starts removes it, as a CPU inference server does. Decode-sized inputs (up to 32 rows) go to our own
AVX-512 kernel instead (kernels/cpu/gemm.py, 1.1-1.5x oneDNN there), whose packed copy is kept beside oneDNN's: oneDNN
stays faster for prefill chunks. The module keeps the original `weight` too: some layers read it directly (MLA's
absorbed attention reads kv_b_proj.weight).
"""
from __future__ import annotations

from collections.abc import Set as AbstractSet

import torch
from torch import nn

from kernels.cpu import gemm as cpu_gemm

DECODE_ROWS = 32  # up to this many rows our kernel is faster than oneDNN; beyond, oneDNN's blocking wins


def available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")


class PackedLinear(nn.Module):
    def __init__(self, linear: nn.Linear, batch_hint: int):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), batch_hint)
        self.decode_kernel = cpu_gemm.kernel()
        self.panels = cpu_gemm.pack(linear.weight) if self.decode_kernel is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or x.device.type != "cpu":
            return nn.functional.linear(x, self.weight, self.bias)
        rows = x.numel() // self.in_features
        if self.panels is not None and rows <= DECODE_ROWS:
            y = self.decode_kernel(x.reshape(rows, self.in_features).contiguous(), self.panels, self.out_features)
            if self.bias is not None:
                y += self.bias
            return y.view(*x.shape[:-1], self.out_features)
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


def pack_linears(model: nn.Module, batch_hint: int = 16, skip: AbstractSet[int] = frozenset()) -> int:
    """Replace every float32 CPU nn.Linear of the model in place, except those whose id() is in `skip` (layers no
    longer called); returns how many were packed (0 if unsupported)."""
    if not available():
        return 0
    todo = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
            if type(child) is nn.Linear and child.weight.dtype == torch.float32 and child.weight.device.type == "cpu"
            and id(child) not in skip]
    with torch.inference_mode():
        for parent, name, child in todo:
            setattr(parent, name, PackedLinear(child, batch_hint))
    return len(todo)
