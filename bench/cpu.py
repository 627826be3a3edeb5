"""`proofloop bench cpu`: our C++ decode kernels against what torch does in their place, same shapes, same run.

- GEMM: `panel_linear` (kernels/cpu/panel_gemm.cpp) against oneDNN with the weight packed once (what the engine used
  before) and against plain `F.linear`, on the demo model's projection shapes. Each timing runs over `layers` distinct
  weights in turn, as a decode step does, so they stream from memory rather than sit in cache.
- Attention: `paged_decode` (kernels/cpu/paged_attention.cpp) against gathering each row's blocks and running
  `scaled_dot_product_attention`, the engine's torch path, over distinct per-layer pools for the same reason.
"""
from __future__ import annotations

import functools
import time
from typing import Any

import torch
import torch.nn.functional as F

# (name, out_features, in_features) of SmolLM2-135M's projections (qkv and gate_up fused as the engine runs them)
DEMO_SHAPES = (("qkv", 960, 576), ("o_proj", 576, 576), ("gate_up", 3072, 576), ("down", 576, 1536),
               ("lm_head", 49152, 576))


def _best_ms(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def gemm_rows(batches: tuple[int, ...], layers: int, repeats: int) -> list[dict]:
    from kernels.cpu import gemm as cpu_gemm

    kernel = cpu_gemm.kernel()
    rows = []
    for name, n, k in DEMO_SHAPES:
        count = 1 if name == "lm_head" else layers
        weights = [torch.randn(n, k) for _ in range(count)]
        panels = [cpu_gemm.pack(w) for w in weights] if kernel else []
        packed = [torch.ops.mkldnn._reorder_linear_weight(w, 16) for w in weights]
        for batch in batches:
            x = torch.randn(batch, k)
            row: dict[str, Any] = {"op": name, "n": n, "k": k, "batch": batch, "weights": count}
            # Each lambda is timed at once; the defaults bind this iteration's tensors explicitly.
            row["onednn_ms"] = _best_ms(lambda x=x, packed=packed: [
                torch.ops.mkldnn._linear_pointwise(x, p, None, "none", [], "") for p in packed], repeats)
            row["f_linear_ms"] = _best_ms(lambda x=x, weights=weights: [F.linear(x, w) for w in weights], repeats)
            if kernel:
                row["ours_ms"] = _best_ms(lambda x=x, n=n, panels=panels: [kernel(x, p, n) for p in panels], repeats)
                row["vs_onednn"] = row["onednn_ms"] / row["ours_ms"]
                row["gflops"] = 2 * batch * n * k * count / row["ours_ms"] / 1e6
            rows.append(row)
    return rows


def _torch_paged_decode(pools, blocks, q, mask, scale, block_size):
    """The engine's torch path: gather each row's blocks from every layer's pool, then SDPA."""
    batch = blocks.shape[0]
    for kpool, vpool in pools:
        num_blocks, kv_heads, head_dim = kpool.shape[0] // block_size, kpool.shape[1], kpool.shape[2]
        keys = kpool.view(num_blocks, block_size, kv_heads, head_dim).index_select(0, blocks.flatten())
        values = vpool.view(num_blocks, block_size, kv_heads, head_dim).index_select(0, blocks.flatten())
        keys, values = (t.view(batch, -1, kv_heads, head_dim).transpose(1, 2) for t in (keys, values))
        F.scaled_dot_product_attention(q[:, :, None], keys, values, attn_mask=mask, scale=scale, enable_gqa=True)


def _ours_paged_decode(kernel, pools, blocks, lens, q, scale, block_size):
    return [kernel(q, k, v, blocks, lens, block_size, scale) for k, v in pools]


def attention_rows(contexts: tuple[int, ...], batch: int, layers: int, repeats: int, heads: int = 9,
                   kv_heads: int = 3, head_dim: int = 64, block_size: int = 16) -> list[dict]:
    from kernels.cpu import paged_attention as paged_attention_cpu

    kernel = paged_attention_cpu.kernel()
    rows = []
    for context in contexts:
        per_row = -(-context // block_size)
        num_blocks = batch * per_row
        pools = [(torch.randn(num_blocks * block_size, kv_heads, head_dim),
                  torch.randn(num_blocks * block_size, kv_heads, head_dim)) for _ in range(layers)]
        blocks = torch.randperm(num_blocks).view(batch, per_row).contiguous()
        lens = torch.full((batch,), context)
        q = torch.randn(batch, heads, head_dim)
        scale = head_dim ** -0.5
        mask = (torch.arange(per_row * block_size) < context)[None, None, None]

        # partial, not a closure: it holds this length's pools only while it is timed, so `pools = []` frees them
        torch_path = functools.partial(_torch_paged_decode, pools, blocks, q, mask, scale, block_size)
        row = {"context": context, "batch": batch, "layers": layers, "torch_ms": _best_ms(torch_path, repeats)}
        del torch_path
        if kernel:
            ours = functools.partial(_ours_paged_decode, kernel, pools, blocks, lens, q, scale, block_size)
            row["ours_ms"] = _best_ms(ours, repeats)
            del ours
            row["vs_torch"] = row["torch_ms"] / row["ours_ms"]
        rows.append(row)
        pools = []  # free this length's pools before the next is drawn
    return rows


def run(batches: tuple[int, ...] = (1, 8, 16, 32), contexts: tuple[int, ...] = (128, 1024, 4096),
        threads: int | None = 1, repeats: int = 5) -> dict:
    if threads:
        torch.set_num_threads(threads)
    with torch.inference_mode():
        gemm = gemm_rows(batches, layers=30, repeats=repeats)
        attention = attention_rows(contexts, batch=16, layers=4, repeats=repeats)
    return {"threads": torch.get_num_threads(), "gemm": gemm, "attention": attention,
            "native": any("ours_ms" in r for r in gemm + attention)}


def render(result: dict) -> str:
    threads = f"{result['threads']} thread{'s' * (result['threads'] != 1)}"
    lines = [f"CPU decode kernels ({threads}); times are per pass over all the "
             "weights or layers"]
    if not result["native"]:
        lines.append("the C++ kernels are unavailable here (no compiler, no AVX-512, or PROOFLOOP_NATIVE=0): "
                     "torch's figures only")
    lines.append(f"{'GEMM':<8} {'batch':>5}  {'ours ms':>8}  {'oneDNN ms':>9}  {'F.linear ms':>11}  {'GFLOP/s':>7}  "
                 f"{'vs oneDNN':>9}")
    for r in result["gemm"]:
        ours = f"{r['ours_ms']:8.2f}" if "ours_ms" in r else f"{'-':>8}"
        extra = f"{r['gflops']:7.0f}  {r['vs_onednn']:8.2f}x" if "ours_ms" in r else ""
        lines.append(f"{r['op']:<8} {r['batch']:>5}  {ours}  {r['onednn_ms']:9.2f}  {r['f_linear_ms']:11.2f}  {extra}")
    lines.append("attention: batch 16, 9 heads, 3 kv heads, head_dim 64, 4 layers")
    lines.append(f"{'':<10} {'context':>7}  {'ours ms':>8}  {'torch ms':>8}  {'vs torch':>8}")
    for r in result["attention"]:
        if "ours_ms" in r:
            lines.append(f"{'':<10} {r['context']:>7}  {r['ours_ms']:8.2f}  {r['torch_ms']:8.2f}  "
                         f"{r['vs_torch']:7.2f}x")
        else:
            lines.append(f"{'':<10} {r['context']:>7}  {'-':>8}  {r['torch_ms']:8.2f}")
    return "\n".join(lines)
