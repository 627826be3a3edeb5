"""GPU tests: the compiled kernels on CUDA at DeepSeek-V3.2 widths, and the benchmark's quick run.

Triton decides interpreter vs compiler when a kernel is defined, and tests/conftest.py turns the interpreter on for
the CPU tests, so these run in a child pytest with TRITON_INTERPRET=0 (test_gpu_tests_in_a_compiled_process starts
it when CUDA is present). Without CUDA everything here skips.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hang_guard import HANG_GUARD

import kernels
from bench import kernels as bench

ROOT = Path(__file__).resolve().parents[2]
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
compiled_cuda = pytest.mark.skipif(not torch.cuda.is_available() or INTERPRETED,
                                   reason="needs CUDA and compiled Triton (TRITON_INTERPRET=0)")


@pytest.mark.skipif(not torch.cuda.is_available() or not INTERPRETED,
                    reason="needs CUDA; started from the interpreter session")
def test_gpu_tests_in_a_compiled_process():
    env = dict(os.environ, TRITON_INTERPRET="0", PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]


@compiled_cuda
def test_cuda_tensors_use_triton_at_model_shapes():
    """On a GPU, auto dispatch runs the compiled kernels; check them at DeepSeek-V3.2 widths."""
    dev = "cuda"
    q = torch.randn(4, 16, 576, device=dev, dtype=torch.bfloat16)
    kv = torch.randn(5000, 576, device=dev, dtype=torch.bfloat16)
    idx = torch.randint(-1, 5000, (4, 2048), device=dev, dtype=torch.int32)
    out, lse = kernels.sparse_mla_decode(q, kv, idx, 576 ** -0.5, 512)
    with kernels.use_backend("torch"):
        ro, rl = kernels.sparse_mla_decode(q, kv, idx, 576 ** -0.5, 512)
    torch.testing.assert_close(out.float(), ro.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(lse, rl, rtol=1e-3, atol=1e-3)
    scores = torch.randn(8, 10000, device=dev)
    from kernels.topk_indices import topk_indices_ref

    assert torch.equal(kernels.topk_indices(scores, 2048), topk_indices_ref(scores, 2048))
    a, b = torch.randn(64, 7168, device=dev), torch.randn(2048, 7168, device=dev) * 0.02
    aq, as_ = kernels.act_quant(a)
    bq, bs = kernels.act_quant(b)  # per-row scales; reduce to 128x128 tiles for the weight format
    bs_tile = bs.view(16, 128, -1).amax(dim=1)
    bq = (b.view(16, 128, -1, 128) / bs_tile[:, None, :, None]).view(2048, 7168).to(torch.float8_e4m3fn)
    got = kernels.fp8_gemm(aq, as_, bq, bs_tile)
    with kernels.use_backend("torch"):
        want = kernels.fp8_gemm(aq, as_, bq, bs_tile)
    torch.testing.assert_close(got.float(), want.float(), rtol=2e-2, atol=2e-2)


@compiled_cuda
def test_cuda_bench_quick_runs():
    result = bench.run_cuda(quick=True)
    ops = {c["op"] for c in result["cases"]}
    assert {"sparse_mla_decode", "indexer_logits", "fp8_gemm", "fused_moe", "topk_indices"} <= ops
    for c in result["cases"]:
        assert c["max_abs_diff"] is None or c["max_abs_diff"] < 1.0, c


@compiled_cuda
def test_cuda_indexer_moe_norm_rope_at_model_widths():
    dev, bf = "cuda", torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)
    q = torch.randn(8, 64, 128, device=dev, generator=g).to(bf)
    k = torch.randn(3000, 128, device=dev, generator=g).to(bf)
    w = torch.randn(8, 64, device=dev, generator=g)
    st = torch.zeros(8, dtype=torch.int32, device=dev)
    en = torch.arange(2993, 3001, dtype=torch.int32, device=dev)
    x = torch.randn(16, 1024, device=dev, generator=g).to(bf)
    w13 = (torch.randn(8, 1024, 1024, device=dev, generator=g) * 0.03).to(bf)
    w2 = (torch.randn(8, 1024, 512, device=dev, generator=g) * 0.04).to(bf)
    ids = torch.stack([torch.randperm(8, device=dev, generator=g)[:2] for _ in range(16)])
    wts = torch.rand(16, 2, device=dev, generator=g)
    xr = torch.randn(16, 128, 64, device=dev, generator=g).to(bf)
    ang = torch.rand(16, 32, device=dev, generator=g)
    outs = {}
    for name in ("triton", "torch"):
        with kernels.use_backend(name):
            outs[name] = [kernels.indexer_logits(q, k, w, st, en), kernels.fused_moe(x, w13, w2, ids, wts),
                          *kernels.rmsnorm(x, w13[0, 0], 1e-6, residual=x),
                          kernels.rope(xr, ang.cos(), ang.sin(), interleaved=False),
                          kernels.hadamard(q)]
    for a, b in zip(outs["triton"], outs["torch"]):
        torch.testing.assert_close(a.float(), b.float(), rtol=2e-2, atol=2e-2)
