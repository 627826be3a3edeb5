"""Compile every Triton kernel for an NVIDIA target without a GPU: a CI check that the CUDA path builds.

`python -m kernels.compile_check [--arch 90] [--ptxas]` lowers each kernel, with the block sizes ops.py uses on a
GPU at DeepSeek-V3.2's widths, through Triton's whole pipeline (TTIR, TTGIR, LLVM, PTX, cubin via the bundled
ptxas); --ptxas also prints registers, spills and shared memory per kernel from `ptxas -v`. It must run without
TRITON_INTERPRET (the interpreter replaces compilation), so the tests call it in a subprocess.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time


def _specs():
    """(label, jit function, {arg: type string or constexpr value}, num_warps, num_stages)."""
    from kernels._tl import cast  # noqa: F401  (helpers are compiled into their callers)
    from kernels.act_quant import _act_quant_kernel
    from kernels.fp8_gemm import _configs, _fp8_gemm_body, _fp8_gemm_tma_body, _tma_configs
    from kernels.fused_moe import _down_kernel, _gate_up_kernel
    from kernels.hadamard import _hadamard_kernel
    from kernels.indexer_logits import _indexer_kernel
    from kernels.paged_rows import _paged_rows_kernel
    from kernels.rmsnorm import _rmsnorm_kernel
    from kernels.rope import _rope_kernel
    from kernels.sparse_mla_decode import _merge_kernel, _sparse_mla_kernel
    from kernels.topk_indices import _topk_kernel

    i32, f32 = "i32", "fp32"
    out = [
        ("hadamard D=128 bf16", _hadamard_kernel,
         dict(x_ptr="*bf16", y_ptr="*bf16", M=i32, stride_xm=i32, stride_ym=i32, scale=f32, D=128, D_PAD=128,
              LOG2_D=7, BLOCK_M=64, INTERPRETED=False), 4, 1),
        ("act_quant block=128", _act_quant_kernel,
         dict(x_ptr="*bf16", y_ptr="*fp8e4nv", s_ptr="*fp32", M=i32, D=i32, NB=i32, stride_xm=i32, stride_ym=i32,
              stride_sm=i32, BLOCK=128, BLOCK_M=16, POW2=True, INTERPRETED=False), 4, 1),
        ("indexer_logits H=64 D=128 bf16", _indexer_kernel,
         dict(q_ptr="*bf16", k_ptr="*bf16", ks_ptr="*fp32", w_ptr="*fp32", st_ptr="*i32", en_ptr="*i32",
              o_ptr="*fp32", T=i32, S=i32, H=i32, D=i32, stride_qt=i32, stride_qh=i32, stride_ks=i32,
              stride_wt=i32, stride_ot=i32, BLOCK_T=2, BLOCK_S=64, H_PAD=64, D_PAD=128, HAS_KSCALE=False,
              INTERPRETED=False), 8, 3),
        ("indexer_logits_fp8 H=64 D=128", _indexer_kernel,
         dict(q_ptr="*fp8e4nv", k_ptr="*fp8e4nv", ks_ptr="*fp32", w_ptr="*fp32", st_ptr="*i32", en_ptr="*i32",
              o_ptr="*fp32", T=i32, S=i32, H=i32, D=i32, stride_qt=i32, stride_qh=i32, stride_ks=i32,
              stride_wt=i32, stride_ot=i32, BLOCK_T=2, BLOCK_S=64, H_PAD=64, D_PAD=128, HAS_KSCALE=True,
              INTERPRETED=False), 8, 3),
        ("topk_indices one tile 8192", _topk_kernel,
         dict(x_ptr="*fp32", o_ptr="*i32", S=i32, K=i32, stride_x=i32, stride_o=i32, BLOCK_S=8192, ONE_TILE=True),
         16, 1),
        ("topk_indices streamed 2048", _topk_kernel,
         dict(x_ptr="*fp32", o_ptr="*i32", S=i32, K=i32, stride_x=i32, stride_o=i32, BLOCK_S=2048,
              ONE_TILE=False), 8, 1),
        ("paged_rows", _paged_rows_kernel,
         dict(p_ptr="*i32", bt_ptr="*i32", o_ptr="*i32", K=i32, M=i32, block_size=i32, stride_pb=i32,
              stride_btb=i32, stride_ob=i32, BLOCK=1024), 4, 1),
        ("rmsnorm+residual D=7168 bf16", _rmsnorm_kernel,
         dict(x_ptr="*bf16", r_ptr="*bf16", w_ptr="*bf16", y_ptr="*bf16", h_ptr="*bf16", M=i32, D=i32, eps=f32,
              stride_x=i32, stride_r=i32, stride_y=i32, stride_h=i32, BLOCK_M=1, BLOCK_D=8192, HAS_RES=True,
              INTERPRETED=False), 8, 1),
    ]
    for interleaved in (True, False):
        out.append((f"rope {'interleaved' if interleaved else 'neox'} D=64 bf16", _rope_kernel,
                    dict(x_ptr="*bf16", c_ptr="*fp32", s_ptr="*fp32", y_ptr="*bf16", H=i32, HALF=i32,
                         stride_xt=i32, stride_xh=i32, stride_ct=i32, stride_st=i32, stride_yt=i32, stride_yh=i32,
                         BLOCK_H=64, BLOCK_P=32, INTERLEAVED=interleaved, INTERPRETED=False), 4, 1))
    for partial in (False, True):
        out.append((f"sparse_mla_decode Dqk=576 dv=512 bf16{' split' if partial else ''}", _sparse_mla_kernel,
                    dict(q_ptr="*bf16", kv_ptr="*bf16", idx_ptr="*i32", o_ptr="*fp32" if partial else "*bf16",
                         lse_ptr="*fp32", H=i32, N=i32, DV=i32, DR=i32, K_PER_SPLIT=i32, K=i32, scale_log2=f32,
                         stride_qb=i32, stride_qh=i32, stride_kv=i32, stride_ib=i32, stride_ob=i32, stride_oh=i32,
                         stride_os=i32, stride_lb=i32, stride_lh=i32, BLOCK_H=32, BLOCK_N=32, DV_PAD=512,
                         DR_PAD=64, HAS_ROPE=True, PARTIAL=partial, INTERPRETED=False), 8, 2))
    out.append(("sparse_mla_decode merge", _merge_kernel,
                dict(po_ptr="*fp32", pl_ptr="*fp32", o_ptr="*bf16", lse_ptr="*fp32", H=i32, DV=i32, SPLITS=i32,
                     stride_pb=i32, stride_ph=i32, stride_ps=i32, stride_plb=i32, stride_plh=i32, stride_ob=i32,
                     stride_oh=i32, stride_lb=i32, SPLITS_PAD=8, BLOCK_V=512, INTERPRETED=False), 4, 1))
    moe_common = dict(pair_ptr="*i32", bexp_ptr="*i32", n_pairs=i32, INTERPRETED=False)
    for tma in (False, True):
        tag = " TMA" if tma else ""
        out.append((f"fused_moe gate/up bf16{tag}", _gate_up_kernel,
                    dict(x_ptr="*bf16", w_ptr="*bf16", w_desc="tensordesc<bf16[64, 64]>" if tma else "constexpr",
                         h_ptr="*bf16", TOPK=i32, HD=i32, INTER=i32, stride_xt=i32, stride_we=i32, stride_wn=i32,
                         stride_hm=i32, BLOCK_M=16, BLOCK_N=64, BLOCK_K=64, USE_TMA=tma, **moe_common), 4, 3))
        out.append((f"fused_moe down bf16{tag}", _down_kernel,
                    dict(h_ptr="*bf16", h_desc="tensordesc<bf16[64, 64]>" if tma else "constexpr", w_ptr="*bf16",
                         w_desc="tensordesc<bf16[64, 64]>" if tma else "constexpr", o_ptr="*fp32", rw_ptr="*fp32",
                         HD=i32, INTER=i32, stride_hm=i32, stride_we=i32, stride_wn=i32, stride_om=i32, BLOCK_M=64,
                         BLOCK_N=64, BLOCK_K=64, USE_TMA=tma, **moe_common), 4, 3))
    for cfg in _configs():
        bm, bn = cfg.kwargs["BLOCK_M"], cfg.kwargs["BLOCK_N"]
        out.append((f"fp8_gemm {bm}x{bn}", _fp8_gemm_body,
                    dict(a_ptr="*fp8e4nv", b_ptr="*fp8e4nv", c_ptr="*bf16", as_ptr="*fp32", bs_ptr="*fp32", M=i32,
                         N=i32, K=i32, NKB=i32, M_BUCKET=i32, stride_am=i32, stride_bn=i32, stride_cm=i32,
                         stride_asm=i32, stride_bsn=i32, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=128,
                         INTERPRETED=False), cfg.num_warps, cfg.num_stages))
    for cfg in _tma_configs():
        bm, bn = cfg.kwargs["BLOCK_M"], cfg.kwargs["BLOCK_N"]
        out.append((f"fp8_gemm TMA {bm}x{bn}", _fp8_gemm_tma_body,
                    dict(a_desc=f"tensordesc<fp8e4nv[{bm}, 128]>", b_desc=f"tensordesc<fp8e4nv[{bn}, 128]>",
                         c_ptr="*bf16", as_ptr="*fp32", bs_ptr="*fp32", M=i32, N=i32, K=i32, NKB=i32, M_BUCKET=i32,
                         stride_cm=i32, stride_asm=i32, stride_bsn=i32, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=128,
                         INTERPRETED=False), cfg.num_warps, cfg.num_stages))
    return out


def _ordered(fn, args: dict) -> dict:
    names = fn.arg_names
    missing = [n for n in names if n not in args]
    if missing:
        raise KeyError(f"{fn.__name__}: no spec for {missing}")
    return {n: args[n] for n in names}


def compile_all(arch: int = 90, ptxas: bool = False, only: str | None = None) -> list[dict]:
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("unset TRITON_INTERPRET: the interpreter replaces compilation")
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    target = GPUTarget("cuda", arch, 32)
    rows = []
    for label, fn, args, warps, stages in _specs():
        if only and only not in label:
            continue
        args = _ordered(fn, args)
        args = {n: (None if v == "constexpr" else v) for n, v in args.items()}  # unused descriptor slots
        sig = {n: ("constexpr" if not isinstance(v, str) else v) for n, v in args.items()}
        consts = {(i,): v for i, (n, v) in enumerate(args.items()) if not isinstance(v, str)}
        t0 = time.perf_counter()
        row = {"kernel": label}
        try:
            compiled = triton.compile(ASTSource(fn, sig, consts), target=target,
                                      options={"num_warps": warps, "num_stages": stages})
            row.update(ok=True, seconds=round(time.perf_counter() - t0, 2), shared=compiled.metadata.shared)
            if ptxas:
                row.update(_ptxas_report(compiled.asm["ptx"], arch))
        except Exception as e:  # report every kernel, then fail at the end
            row.update(ok=False, error=f"{type(e).__name__}: {e}"[:2000])
        rows.append(row)
    return rows


def _ptxas_report(ptx: str, arch: int) -> dict:
    from triton.backends.nvidia.compiler import get_ptxas

    ptxas = get_ptxas(arch).path
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        sm = f"sm_{arch}a" if arch == 90 else f"sm_{arch}"
        res = subprocess.run([ptxas, f"-arch={sm}", "-v", path, "-o", os.path.join(tmp, "k.cubin")],
                             capture_output=True, text=True)
    text = res.stdout + res.stderr
    regs = re.search(r"Used (\d+) registers", text)
    spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", text)
    return {"registers": int(regs.group(1)) if regs else None,
            "spill_bytes": (int(spill.group(1)) + int(spill.group(2))) if spill else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 90 for H100/H200")
    ap.add_argument("--ptxas", action="store_true", help="report registers and spills from ptxas -v")
    ap.add_argument("--only", help="compile only kernels whose label contains this")
    a = ap.parse_args(argv)
    rows = compile_all(a.arch, a.ptxas, a.only)
    for r in rows:
        if r["ok"]:
            extra = f"  regs={r.get('registers')} spill={r.get('spill_bytes')}" if a.ptxas else ""
            print(f"ok    {r['kernel']:<44} {r['seconds']:6.2f}s  smem={r['shared']}{extra}")
        else:
            print(f"FAIL  {r['kernel']:<44} {r['error']}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
