"""`proofloop bench kernels`: time each Triton kernel against its reference and torch's best equivalent.

On CUDA every case runs three ways when they exist: the Triton kernel, the plain-PyTorch reference, and the
fastest thing stock torch offers for the same job (cuBLAS bf16 or FP8 matmul, F.scaled_dot_product_attention over
the gathered rows, torch.topk, F.rms_norm). Each time is the median of triton.testing.do_bench (L2 flushed between
runs); bytes and FLOPs are the op's essential traffic and math (what a perfect kernel must move and compute), so
GB/s and TFLOP/s are comparable across the three and against the device's peak. Without CUDA, a smoke run checks
each Triton kernel under the CPU interpreter on tiny shapes instead; its times say nothing about speed.
"""
from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

# Dense peaks per device (bytes/s of HBM, FLOP/s bf16 and fp8 tensor cores without sparsity), from NVIDIA's specs.
PEAKS: dict[str, dict[str, float]] = {
    "H200": {"bw": 4.8e12, "bf16": 989e12, "fp8": 1979e12},
    "H100 NVL": {"bw": 3.9e12, "bf16": 835e12, "fp8": 1671e12},
    "H100 PCIe": {"bw": 2.0e12, "bf16": 756e12, "fp8": 1513e12},
    "H100": {"bw": 3.35e12, "bf16": 989e12, "fp8": 1979e12},  # SXM
}


def device_peaks(name: str) -> tuple[str, dict[str, float]] | None:
    """The peaks entry for a CUDA device name ("NVIDIA H100 80GB HBM3" -> H100 SXM); None if unknown."""
    upper = name.upper()
    for key in PEAKS:  # most specific first
        if all(part.upper() in upper for part in key.split()):
            return key, PEAKS[key]
    return None


@dataclass
class Timing:
    impl: str            # "triton", "reference" or the torch equivalent's name
    ms: float | None
    gbps: float | None = None
    tflops: float | None = None
    bw_frac: float | None = None
    flops_frac: float | None = None
    error: str | None = None


@dataclass
class Case:
    op: str
    shape: str
    bytes: float
    flops: float
    peak_kind: str       # "bf16" or "fp8": which tensor-core peak the FLOPs compare to
    timings: list[Timing] = field(default_factory=list)
    max_abs_diff: float | None = None   # Triton vs reference, on this case's inputs


def _time(fn: Callable[[], object], quick: bool) -> float:
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=10 if quick else 25, rep=30 if quick else 100,
                                         return_mode="median"))


def _measure(case: Case, impl: str, fn: Callable[[], object], peaks: dict[str, float] | None, quick: bool) -> None:
    try:
        ms = _time(fn, quick)
    except Exception as e:  # a torch equivalent missing on this build, or out of memory: report, go on
        case.timings.append(Timing(impl, None, error=f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"))
        torch.cuda.empty_cache()
        return
    s = ms / 1e3
    t = Timing(impl, ms, gbps=case.bytes / s / 1e9, tflops=case.flops / s / 1e12 if case.flops else None)
    if peaks:
        t.bw_frac = case.bytes / s / peaks["bw"]
        t.flops_frac = case.flops / s / peaks[case.peak_kind] if case.flops else None
    case.timings.append(t)


def _diff(a, b) -> float:
    a = a if isinstance(a, (tuple, list)) else (a,)
    b = b if isinstance(b, (tuple, list)) else (b,)
    worst = 0.0
    for x, y in zip(a, b):
        x, y = x.float(), y.float()
        both = torch.isfinite(x) & torch.isfinite(y)
        if not torch.equal(torch.isfinite(x), torch.isfinite(y)):
            return float("inf")
        if both.any():
            worst = max(worst, (x[both] - y[both]).abs().max().item())
    return worst


def _cases(quick: bool, dev: str = "cuda", tiny: bool = False):
    """(case, triton fn, reference fn, [(torch-best name, fn)], compare) for the issue's shapes.

    tiny=True swaps in small sizes of the same structure, so the case set can be checked on CPU.
    """
    def pick(full, small):
        return small if tiny else full

    import torch.nn.functional as F

    # the op modules (the package's attributes of these names are the dispatching functions)
    aq_mod, g_mod, moe_mod, h_mod, il_mod, rn_mod, rp_mod, mla_mod, tk_mod = (
        importlib.import_module(f"kernels.{m}") for m in ("act_quant", "fp8_gemm", "fused_moe", "hadamard",
                                                           "indexer_logits", "rmsnorm", "rope",
                                                           "sparse_mla_decode", "topk_indices"))

    bf = torch.bfloat16 if dev == "cuda" else torch.float32
    gen = torch.Generator(device=dev).manual_seed(0)

    def randn(*shape, dtype=bf, scale=1.0):
        return (torch.randn(*shape, device=dev, generator=gen) * scale).to(dtype)

    # sparse MLA decode, DeepSeek-V3.2 widths: B=64, H=128, K=2048, Dqk=576, dv=512
    b, h, k, dqk, dv = pick((64, 128, 2048, 576, 512), (2, 3, 20, 40, 32))
    n = b * k
    q, kv = randn(b, h, dqk), randn(n, dqk)
    idx = torch.stack([torch.randperm(n, device=dev, generator=gen)[:k] for _ in range(b)]).int()
    scale = dqk ** -0.5

    def sdpa_gathered():
        # heads share the rows (MQA), so they ride in the query-length axis: [B, 1, H, Dqk] against [B, 1, K, Dqk]
        rows = kv[idx.long()][:, None]
        return F.scaled_dot_product_attention(q[:, None], rows, rows[..., :dv], scale=scale)

    case = Case("sparse_mla_decode", f"B={b} H={h} K={k} Dqk={dqk} dv={dv} bf16",
                bytes=b * k * dqk * 2 + b * k * 4 + b * h * (dqk + dv) * 2 + b * h * 4,
                flops=2 * b * h * k * (dqk + dv), peak_kind="bf16")
    yield (case, lambda: mla_mod.sparse_mla_decode_triton(q, kv, idx, scale, dv),
           lambda: mla_mod.sparse_mla_decode_ref(q, kv, idx, scale, dv),
           [("SDPA over gathered rows", sdpa_gathered)], True)

    # lightning indexer: 64 heads of 128, prefill-like and decode-like
    hi, d = pick((64, 128), (2, 128))
    for t, s in pick([(64, 65536)] if quick else [(1024, 8192), (64, 65536)], [(3, 40)]):
        qi, ki, wi = randn(t, hi, d), randn(s, d), randn(t, hi, dtype=torch.float32)
        st = torch.zeros(t, dtype=torch.int32, device=dev)
        en = torch.full((t,), s, dtype=torch.int32, device=dev)
        flops = 2 * t * hi * s * d
        side = max(16, int(round((flops / 2) ** (1 / 3) / 128)) * 128)
        sq_a, sq_b = randn(side, side), randn(side, side)
        case = Case("indexer_logits", f"T={t} H={hi} D={d} S={s} bf16",
                    bytes=t * hi * d * 2 + s * d * 2 + t * hi * 4 + t * s * 4, flops=flops, peak_kind="bf16")
        yield (case, lambda qi=qi, ki=ki, wi=wi, st=st, en=en: il_mod.indexer_logits_triton(qi, ki, wi, st, en),
               lambda qi=qi, ki=ki, wi=wi, st=st, en=en: il_mod.indexer_logits_ref(qi, ki, wi, st, en),
               [("matmul q@k^T (unfused)", lambda qi=qi, ki=ki: qi.view(-1, d) @ ki.t()),
                (f"bf16 GEMM {side}^3, same FLOPs", lambda a=sq_a, bb=sq_b: a @ bb)], True)
        qf, qs = aq_mod.act_quant_ref(qi, 128)
        kf, ks = aq_mod.act_quant_ref(ki, 128)
        wf = wi * qs[..., 0]
        case = Case("indexer_logits_fp8", f"T={t} H={hi} D={d} S={s} e4m3",
                    bytes=t * hi * d + s * d + s * 4 + t * hi * 4 + t * s * 4, flops=flops, peak_kind="fp8")
        yield (case, lambda qf=qf, kf=kf, ks=ks, wf=wf, st=st, en=en:
               il_mod.indexer_logits_fp8_triton(qf, kf, ks[:, 0], wf, st, en),
               lambda qf=qf, kf=kf, ks=ks, wf=wf, st=st, en=en:
               il_mod.indexer_logits_fp8_ref(qf, kf, ks[:, 0], wf, st, en), [], True)

    # top-k over decode rows of the indexer
    t, s, kk = pick((64, 65536, 2048), (3, 300, 20))
    scores = torch.randn(t, s, device=dev, generator=gen)
    case = Case("topk_indices", f"T={t} S={s} k={kk} fp32", bytes=t * s * 4 + t * kk * 4, flops=0, peak_kind="bf16")
    yield (case, lambda: tk_mod.topk_indices_triton(scores, kk), lambda: tk_mod.topk_indices_ref(scores, kk),
           [("torch.topk", lambda: torch.topk(scores, kk, dim=1))], True)

    # FP8 block-scaled GEMM (DeepSeek-V3 weights): decode and prefill row counts
    nn_, kk_ = pick((7168, 7168), (256, 256))
    wq = randn(nn_, kk_, dtype=torch.float32, scale=0.02)
    tiles = wq.view(nn_ // 128, 128, kk_ // 128, 128)
    bsc = tiles.abs().amax(dim=(1, 3)).clamp_min(1e-4) / 448.0
    bq = (tiles / bsc[:, None, :, None]).view(nn_, kk_).to(torch.float8_e4m3fn)
    wbf = wq.to(bf)
    for m in pick([64] if quick else [64, 4096], [5]):
        a = randn(m, kk_)
        af, asc = aq_mod.act_quant_ref(a, 128)
        case = Case("fp8_gemm", f"M={m} N={nn_} K={kk_} e4m3 128-blocks",
                    bytes=m * kk_ + nn_ * kk_ + m * nn_ * 2 + asc.numel() * 4 + bsc.numel() * 4,
                    flops=2 * m * nn_ * kk_, peak_kind="fp8")
        best: list[tuple[str, Callable[..., torch.Tensor]]] = [("bf16 matmul", lambda a=a: a @ wbf.t())]
        if hasattr(torch, "_scaled_mm") and dev == "cuda":
            one = torch.ones((), device=dev)
            best.append(("torch._scaled_mm per-tensor", lambda af=af, one=one: torch._scaled_mm(
                af, bq.t(), scale_a=one, scale_b=one, out_dtype=bf)))
        yield (case, lambda af=af, asc=asc: g_mod.fp8_gemm_triton(af, asc, bq, bsc),
               lambda af=af, asc=asc: g_mod.fp8_gemm_ref(af, asc, bq, bsc), best, True)

    # MoE: 64 experts of DeepSeek-V3's width (7168 -> 2048), 8 per token
    e, hd, inter, topk = pick((64, 7168, 2048, 8), (4, 32, 16, 2))
    w13, w2 = randn(e, 2 * inter, hd, scale=0.02), randn(e, hd, inter, scale=0.02)
    for t in pick([64] if quick else [64, 2048], [6]):
        x = randn(t, hd)
        ids = torch.stack([torch.randperm(e, device=dev, generator=gen)[:topk] for _ in range(t)])
        wts = torch.rand(t, topk, device=dev, generator=gen)
        active = min(e, t * topk)
        case = Case("fused_moe", f"T={t} E={e} k={topk} Hd={hd} I={inter} bf16",
                    bytes=active * 3 * inter * hd * 2 + 2 * t * hd * 2, flops=2 * t * topk * 3 * inter * hd,
                    peak_kind="bf16")
        yield (case, lambda x=x, ids=ids, wts=wts: moe_mod.fused_moe_triton(x, w13, w2, ids, wts),
               lambda x=x, ids=ids, wts=wts: moe_mod.fused_moe_ref(x, w13, w2, ids, wts), [], True)

    # memory-bound small ops
    t, hd = pick((4096, 7168), (5, 48))
    x, r, w = randn(t, hd), randn(t, hd), randn(hd)
    case = Case("rmsnorm+residual", f"T={t} D={hd} bf16", bytes=5 * t * hd * 2, flops=0, peak_kind="bf16")
    yield (case, lambda: rn_mod.rmsnorm_triton(x, w, 1e-6, r), lambda: rn_mod.rmsnorm_ref(x, w, 1e-6, r),
           [("add + F.rms_norm", lambda: F.rms_norm(x + r, (hd,), w, 1e-6))], True)
    rh = pick(128, 2)
    xr = randn(t, rh, 64)
    ang = torch.rand(t, 32, device=dev, generator=gen)
    cos, sin = ang.cos(), ang.sin()
    for inter_l in (True, False):
        case = Case("rope " + ("interleaved" if inter_l else "neox"), f"T={t} H={rh} D=64 bf16",
                    bytes=2 * xr.numel() * 2 + 2 * ang.numel() * 4, flops=0, peak_kind="bf16")
        yield (case, lambda il=inter_l: rp_mod.rope_triton(xr, cos, sin, il),
               lambda il=inter_l: rp_mod.rope_ref(xr, cos, sin, il), [], True)
    xh = randn(t * pick(64, 2), 128)
    hmat = h_mod.hadamard_ref(torch.eye(128, device=dev)).to(bf)
    case = Case("hadamard", f"rows={t * 64} D=128 bf16", bytes=2 * xh.numel() * 2, flops=2 * xh.numel() * 128,
                peak_kind="bf16")
    yield (case, lambda: h_mod.hadamard_triton(xh), lambda: h_mod.hadamard_ref(xh),
           [("matmul by H/sqrt(D)", lambda: xh @ hmat)], True)
    xa = randn(t, hd)
    case = Case("act_quant", f"T={t} D={hd} block=128", bytes=xa.numel() * 3 + t * hd // 128 * 4, flops=0,
                peak_kind="bf16")
    yield (case, lambda: aq_mod.act_quant_triton(xa), lambda: aq_mod.act_quant_ref(xa), [], False)


def run_cuda(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    name = torch.cuda.get_device_name()
    found = device_peaks(name)
    peaks = found[1] if found else None
    cases = []
    for case, tri, ref, best, compare in _cases(quick):
        if progress:
            progress(f"{case.op} {case.shape}")
        if compare:
            try:
                case.max_abs_diff = _diff(tri(), ref())
            except Exception as e:  # keep timing the rest
                case.timings.append(Timing("check", None, error=f"{type(e).__name__}: {e}"[:160]))
        _measure(case, "triton", tri, peaks, quick)
        _measure(case, "reference", ref, peaks, quick)
        for label, fn in best:
            _measure(case, label, fn, peaks, quick)
        cases.append(case)
        torch.cuda.empty_cache()
    return {"device": name, "cuda": True, "peaks_for": found[0] if found else None, "peaks": peaks,
            "cases": [asdict(c) for c in cases]}


def run_smoke() -> dict:
    """Each Triton kernel once under the CPU interpreter on a tiny shape, against its reference."""
    os.environ.setdefault("TRITON_INTERPRET", "1")
    from kernels import ops

    torch.manual_seed(0)
    x = torch.randn(5, 3, 32)
    ang = torch.rand(5, 16)
    q, kv = torch.randn(2, 3, 24), torch.randn(20, 24)
    idx = torch.randint(-1, 20, (2, 9), dtype=torch.int32)
    a = torch.randn(3, 200)
    af, asc = ops.act_quant(a)
    bf_, bsc = ops.act_quant(torch.randn(130, 200))
    bsc = torch.stack([bsc[:128].amax(0), bsc[128:].amax(0)])
    moe = (torch.randn(4, 16), torch.randn(3, 12, 16) * 0.2, torch.randn(3, 16, 6) * 0.2,
           torch.tensor([[0, 1], [2, 0], [1, 2], [0, 2]]), torch.rand(4, 2))
    st, en = torch.zeros(5, dtype=torch.int32), torch.tensor([1, 0, 3, 4, 5], dtype=torch.int32)
    w_idx, w_norm, scores = torch.rand(5, 3), torch.rand(32), torch.randn(4, 50).sort(dim=1).values
    calls = {
        "hadamard": lambda: ops.hadamard(x),
        "act_quant": lambda: ops.act_quant(a),
        "fp8_gemm": lambda: ops.fp8_gemm(af, asc, bf_, bsc),
        "indexer_logits": lambda: ops.indexer_logits(x, x[:, 0], w_idx, st, en),
        "topk_indices": lambda: ops.topk_indices(scores, 7),
        "sparse_mla_decode": lambda: ops.sparse_mla_decode(q, kv, idx, 0.2, 16),
        "fused_moe": lambda: ops.fused_moe(*moe),
        "rmsnorm": lambda: ops.rmsnorm(x, w_norm, 1e-6, residual=x),
        "rope": lambda: ops.rope(x, ang.cos(), ang.sin(), interleaved=True),
    }
    rows = []
    for op, fn in calls.items():
        with ops.use_backend("torch"):
            want = fn()
        t0 = time.perf_counter()
        with ops.use_backend("triton"):
            got = fn()
        rows.append({"op": op, "seconds": time.perf_counter() - t0, "max_abs_diff": _diff(got, want)})
    return {"device": "cpu", "cuda": False,
            "note": "CUDA is needed to time the kernels; this was a correctness smoke run of each Triton kernel "
                    "under the CPU interpreter (times measure the interpreter, not the kernel).",
            "smoke": rows}


def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Benchmark on CUDA when there is a GPU, else the interpreter smoke run."""
    return run_cuda(quick, progress) if torch.cuda.is_available() else run_smoke()


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def render(result: dict):
    """A rich Table (or two) for a run() result."""
    from rich.table import Table

    if not result["cuda"]:
        table = Table(title="kernels: interpreter smoke run (no CUDA)", caption=result["note"])
        for col in ("op", "interpreter s", "max |triton - ref|"):
            table.add_column(col, justify="left" if col == "op" else "right")
        for row in result["smoke"]:
            table.add_row(row["op"], f"{row['seconds']:.2f}", f"{row['max_abs_diff']:.2e}")
        return table
    peaks = result["peaks"]
    caption = (f"peaks ({result['peaks_for']}): {peaks['bw'] / 1e12:.2f} TB/s, bf16 {peaks['bf16'] / 1e12:.0f} "
               f"TFLOP/s, fp8 {peaks['fp8'] / 1e12:.0f} TFLOP/s (dense)" if peaks else
               "device not in the peaks table: no fractions of peak")
    table = Table(title=f"kernels on {result['device']}", caption=caption)
    for col in ("op", "shape", "impl", "ms", "GB/s", "TFLOP/s", "% BW", "% FLOPs", "vs triton", "max |Δ|"):
        table.add_column(col, justify="left" if col in ("op", "shape", "impl") else "right")
    for case in result["cases"]:
        tri = next((t["ms"] for t in case["timings"] if t["impl"] == "triton"), None)
        for i, t in enumerate(case["timings"]):
            first = i == 0
            ratio = f"{t['ms'] / tri:.2f}x" if tri and t["ms"] else "-"
            table.add_row(case["op"] if first else "", case["shape"] if first else "", t["impl"],
                          _fmt(t["ms"], ".3f") if not t["error"] else f"[red]{t['error']}[/red]",
                          _fmt(t["gbps"], ".0f"), _fmt(t["tflops"], ".1f"),
                          _fmt(t["bw_frac"] * 100 if t["bw_frac"] is not None else None, ".0f"),
                          _fmt(t["flops_frac"] * 100 if t["flops_frac"] is not None else None, ".0f"),
                          ratio, _fmt(case["max_abs_diff"], ".1e") if first else "",
                          end_section=i == len(case["timings"]) - 1)
    return table
