"""kernels.bench and `proofloop bench kernels`: peaks lookup, the CPU smoke path, rendering, the CLI command."""
import json

import pytest
import torch
from rich.console import Console

from bench import kernels as bench


@pytest.mark.parametrize("name,key", [("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H100 PCIe", "H100 PCIe"),
                                      ("NVIDIA H100 NVL", "H100 NVL"), ("NVIDIA H200", "H200"),
                                      ("NVIDIA A100-SXM4-80GB", None)])
def test_device_peaks(name, key):
    found = bench.device_peaks(name)
    assert (found[0] if found else None) == key


def test_smoke_run_checks_every_kernel():
    result = bench.run_smoke()
    assert result["cuda"] is False and "CUDA" in result["note"]
    assert {r["op"] for r in result["smoke"]} == {"hadamard", "act_quant", "fp8_gemm", "indexer_logits",
                                                   "topk_indices", "sparse_mla_decode", "fused_moe", "rmsnorm",
                                                   "rope"}
    assert all(r["max_abs_diff"] < 1e-4 for r in result["smoke"])
    console = Console(record=True, width=120)
    console.print(bench.render(result))
    assert "interpreter smoke run" in console.export_text()


def test_render_cuda_result_shape():
    case = bench.Case("sparse_mla_decode", "B=1", bytes=2e9, flops=4e12, peak_kind="bf16")
    peaks = bench.PEAKS["H100"]
    case.timings = [bench.Timing("triton", 1.0, gbps=2000.0, tflops=4000.0, bw_frac=0.6, flops_frac=0.4),
                    bench.Timing("reference", 2.0, gbps=1000.0, tflops=2000.0, bw_frac=0.3, flops_frac=0.2),
                    bench.Timing("SDPA", None, error="RuntimeError: nope")]
    from dataclasses import asdict
    result = {"device": "NVIDIA H100 80GB HBM3", "cuda": True, "peaks_for": "H100", "peaks": peaks,
              "cases": [asdict(case)]}
    console = Console(record=True, width=200)
    console.print(bench.render(result))
    text = console.export_text()
    assert "2.00x" in text and "60" in text and "RuntimeError: nope" in text and "3.35 TB/s" in text


def test_cli_bench_kernels_json_on_cpu():
    if torch.cuda.is_available():
        pytest.skip("on a GPU the command runs the full benchmark")
    from typer.testing import CliRunner

    import cli

    out = CliRunner().invoke(cli.app, ["bench", "kernels", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["cuda"] is False and len(data["smoke"]) == 9


def test_benchmark_cases_run_on_tiny_shapes():
    """The CUDA benchmark's case list, built with tiny sizes on CPU: every callable runs and Triton matches."""
    seen = set()
    for case, tri, ref, best, compare in bench._cases(quick=False, dev="cpu", tiny=True):
        seen.add(case.op)
        got, want = tri(), ref()
        for _, fn in best:
            fn()
        if compare:
            assert bench._diff(got, want) < 1e-3, case.op
        assert case.bytes > 0
    assert {"sparse_mla_decode", "indexer_logits", "indexer_logits_fp8", "topk_indices", "fp8_gemm", "fused_moe",
            "rmsnorm+residual", "rope interleaved", "rope neox", "hadamard", "act_quant"} <= seen
