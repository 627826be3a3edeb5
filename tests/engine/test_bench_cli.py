"""The benchmarks' arithmetic and the engine's CLI commands (fast paths only: timings are not tested)."""
from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from bench import dsa as bench_dsa
from cli import app


def test_sparse_step_equals_dense_when_topk_covers_the_context():
    gen = torch.Generator().manual_seed(0)
    q_lat, q_pe = torch.randn(4, 512, generator=gen), torch.randn(4, 64, generator=gen)
    latent, k_pe = torch.randn(300, 512, generator=gen), torch.randn(300, 64, generator=gen)
    q_idx, w_idx, k_idx = torch.randn(64, 128, generator=gen), torch.randn(64, generator=gen), torch.randn(300, 128,
                                                                                                      generator=gen)
    dense = bench_dsa.dense_step(q_lat, q_pe, latent, k_pe, 0.07)
    assert torch.allclose(bench_dsa.sparse_step(q_lat, q_pe, latent, k_pe, q_idx, w_idx, k_idx, 0.07, 300), dense,
                          atol=1e-5)
    assert not torch.allclose(bench_dsa.sparse_step(q_lat, q_pe, latent, k_pe, q_idx, w_idx, k_idx, 0.07, 20), dense,
                              atol=1e-3)
    assert bench_dsa.parse_context("4k, 512") == [4096, 512]


def test_bench_dsa_command_prints_ratios():
    result = CliRunner().invoke(app, ["bench", "dsa", "--context", "1k,2k", "--heads", "8", "--topk", "256", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [r["context"] for r in rows] == [1024, 2048] and all(r["ratio"] > 0 for r in rows)


def test_engine_commands_reject_bad_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["model", "serve", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "not a checkpoint directory" in result.output
    result = runner.invoke(app, ["bench", "dsa", "--context", "lots"])
    assert result.exit_code == 2 and "--context" in result.output
    result = runner.invoke(app, ["bench", "engine", "--batch", "one"])
    assert result.exit_code == 2 and "--batch" in result.output


def test_importing_model_does_not_import_torch():
    import subprocess
    import sys

    from hang_guard import HANG_GUARD

    code = "import sys, model; assert 'torch' not in sys.modules; print(model.Engine.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_GUARD)
    assert out.returncode == 0 and out.stdout.strip() == "Engine", out.stderr


def test_bench_cpu_rows_and_render():
    from bench import cpu as bench_cpu

    gemm = bench_cpu.gemm_rows((2,), layers=1, repeats=1)
    attention = bench_cpu.attention_rows((40,), batch=2, layers=1, repeats=1)
    assert [r["op"] for r in gemm] == [name for name, _, _ in bench_cpu.DEMO_SHAPES]
    assert all(r["onednn_ms"] > 0 and r["f_linear_ms"] > 0 for r in gemm) and attention[0]["torch_ms"] > 0
    text = bench_cpu.render({"threads": 1, "gemm": gemm, "attention": attention,
                             "native": any("ours_ms" in r for r in gemm)})
    assert "lm_head" in text and "vs torch" in text
    result = CliRunner().invoke(app, ["bench", "cpu", "--batch", "x"])
    assert result.exit_code == 2 and "--batch" in result.output
