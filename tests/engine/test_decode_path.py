"""The engine's start line names the decode kernels that actually run (model_runner.decode_path)."""
from __future__ import annotations

import torch

from kernels.cpu import gemm
from model.engine.engine import Engine
from model.layers.cpu_linear import PackedLinear


def packed_linears(engine: Engine) -> list[PackedLinear]:
    fused = [m for _, qkv, gate_up in (engine.runner.fast.layers if engine.runner.fast else []) for m in (qkv, gate_up)]
    return [m for m in [*engine.model.modules(), *fused] if isinstance(m, PackedLinear)]


def test_the_line_names_the_gemm_the_linears_use(tiny):
    engine = Engine(tiny["llama"][0], device="cpu", cache_gb=0.01)
    line = engine.describe()
    assert line.startswith(f"{tiny['llama'][0].name} on cpu (float32); CPU decode: ")
    assert f"; {torch.get_num_threads()} thread" in line
    linears = packed_linears(engine)
    assert linears  # float32 on CPU: packed
    panel = {m.decode_kernel is not None for m in linears}
    assert len(panel) == 1  # every linear on one path
    if panel == {True}:
        assert "AVX-512 panel GEMM," in line and "oneDNN" not in line
    else:
        assert f"oneDNN packed GEMM (not the AVX-512 panel GEMM: {gemm.why_unavailable()})" in line
    attention = engine.runner.fast.ops is not None
    assert ("C++ paged attention" in line) is attention and ("torch attention" in line) is not attention


def test_without_the_native_kernels_or_float32(tiny, monkeypatch):
    from kernels.cpu import build

    monkeypatch.setenv("PROOFLOOP_NATIVE", "0")
    monkeypatch.setattr(build, "_tried", False)  # read the setting again, as a fresh process does
    monkeypatch.setattr(build, "_module", None)
    assert gemm.why_unavailable() == "PROOFLOOP_NATIVE=0"
    line = Engine(tiny["llama"][0], device="cpu", dtype="bfloat16", cache_gb=0.01).describe()
    assert "plain torch GEMM (bfloat16 weights; the packed GEMMs are float32)" in line
    assert "fast paths off" in Engine(tiny["llama"][0], device="cpu", cache_gb=0.01, fast=False).describe()
