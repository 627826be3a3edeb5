"""kernels.ops: dispatch between Triton and the references, argument checks, and a cheap, inert package import."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import kernels
from kernels.errors import KernelError

ROOT = Path(__file__).resolve().parents[2]


def test_public_names_are_the_ops_even_after_submodule_imports():
    import kernels.hadamard  # noqa: F401  (binds nothing over the public function)
    from kernels.rope import rope_ref  # noqa: F401
    for name in ["hadamard", "act_quant", "fp8_gemm", "indexer_logits", "indexer_logits_fp8", "topk_indices",
                 "sparse_mla_decode", "fused_moe", "rmsnorm", "rope", "paged_rows"]:
        fn = getattr(kernels, name)
        assert callable(fn) and fn.__module__ == "kernels.ops", name


def test_backend_choice(monkeypatch):
    x = torch.randn(3, 16)
    calls = []
    import kernels.hadamard as _  # noqa: F401
    mod = sys.modules["kernels.hadamard"]
    monkeypatch.setattr(mod, "hadamard_ref", lambda t: calls.append("ref") or t)
    monkeypatch.setattr(mod, "hadamard_triton", lambda t: calls.append("triton") or t)
    kernels.hadamard(x)                      # CPU tensor, auto -> reference
    with kernels.use_backend("triton"):
        kernels.hadamard(x)
        with kernels.use_backend("torch"):
            kernels.hadamard(x)
    monkeypatch.setenv("PROOFLOOP_KERNELS", "triton")
    kernels.hadamard(x)
    assert calls == ["ref", "triton", "ref", "triton"]
    monkeypatch.setenv("PROOFLOOP_KERNELS", "fast")
    with pytest.raises(KernelError, match="PROOFLOOP_KERNELS"):
        kernels.hadamard(x)


def test_forced_triton_without_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with kernels.use_backend("triton"), pytest.raises(KernelError, match="CUDA"):
        kernels.rmsnorm(torch.randn(2, 4), torch.ones(4), 1e-6)


@pytest.mark.parametrize("call,match", [
    (lambda: kernels.hadamard(torch.randn(2, 12)), "power of two"),
    (lambda: kernels.fp8_gemm(torch.zeros(2, 128).to(torch.float8_e4m3fn), torch.ones(2, 2),
                              torch.zeros(3, 128).to(torch.float8_e4m3fn), torch.ones(1, 1)), "a_scale"),
    (lambda: kernels.indexer_logits(torch.randn(2, 3, 8), torch.randn(5, 8), torch.randn(2, 4),
                                    torch.zeros(2), torch.ones(2)), "weights"),
    (lambda: kernels.sparse_mla_decode(torch.randn(1, 2, 8), torch.randn(4, 8), torch.zeros(1, 3).int(), 1.0, 9),
     "dv"),
    (lambda: kernels.fused_moe(torch.randn(2, 8), torch.randn(3, 6, 8), torch.randn(3, 8, 4),
                               torch.zeros(2, 2).long(), torch.ones(2, 2)), "shapes disagree"),
    (lambda: kernels.rope(torch.randn(3, 2, 8), torch.randn(3, 3), torch.randn(3, 3)), "cos and sin"),
    (lambda: kernels.rmsnorm(torch.randn(3, 8), torch.ones(7), 1e-6), "weight"),
])
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises(KernelError, match=match):
        call()


def test_ops_agree_across_backends():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 64)
    c, s = torch.randn(4, 32).cos(), torch.randn(4, 32).sin()
    q, kv = torch.randn(2, 4, 40), torch.randn(30, 40)
    idx = torch.randint(-1, 30, (2, 12), dtype=torch.int32)
    w_idx, w_norm = torch.rand(4, 3), torch.rand(64)
    outs = {}
    for name in ("torch", "triton"):
        with kernels.use_backend(name):
            scores = kernels.indexer_logits(x, x[:, 0] * 2, w_idx, torch.zeros(4, dtype=torch.int32),
                                            torch.tensor([1, 2, 3, 4], dtype=torch.int32))
            outs[name] = [kernels.hadamard(x), kernels.rope(x, c, s, interleaved=False),
                          kernels.rmsnorm(x, w_norm, 1e-6, residual=x)[0],
                          *kernels.sparse_mla_decode(q, kv, idx, 0.1, 32), kernels.topk_indices(scores, 3)]
    for a, b in zip(outs["torch"], outs["triton"]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_import_kernels_loads_neither_torch_nor_triton():
    code = ("import sys, kernels; "
            "print('torch' in sys.modules, 'triton' in sys.modules, hasattr(kernels, '__version__'))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
