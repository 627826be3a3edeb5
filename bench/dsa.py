"""`proofloop bench dsa`: one decode step's attention with DeepSeek Sparse Attention against dense MLA attention.

Shapes as in DeepSeek-V3.2 (one layer, one query token, MLA's absorbed mode over the cached latents):
    dense:  scores = q_lat . latent + q_pe . k_pe over all L cached tokens, softmax, weighted sum of the latents
    sparse: indexer I[s] = sum_h w[h] ReLU(q_idx[h] . k_idx[s]) over all L tokens (64 heads x 128), its top-k
            (2048), then the same attention over the k selected latents only
The up-projections (into and out of the latent space) are the same for both and left out. Attention heads default to
128 (V3.2's) and can be lowered with `heads`; a ratio > 1 means the sparse step is cheaper. The indexer's cached keys
are low precision, as in the official code (FP8 there; bfloat16 here, which CPUs and GPUs both multiply natively);
everything else is in `dtype`.
"""
from __future__ import annotations

import functools
import time

import torch

KV_LORA_RANK, ROPE_DIM, INDEX_HEADS, INDEX_DIM, TOPK = 512, 64, 64, 128, 2048


def dense_step(q_lat, q_pe, latent, k_pe, scale):
    scores = (q_lat @ latent.T + q_pe @ k_pe.T) * scale  # [H, L]
    return scores.softmax(-1) @ latent  # [H, kv_lora_rank]


def sparse_step(q_lat, q_pe, latent, k_pe, q_idx, w_idx, k_idx, scale, topk):
    index = w_idx @ (q_idx.to(k_idx.dtype) @ k_idx.T).float().relu_()  # [L]
    chosen = index.topk(min(topk, index.shape[0])).indices
    return dense_step(q_lat, q_pe, latent[chosen], k_pe[chosen], scale)


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def parse_context(text: str) -> list[int]:
    """'4k,16k,32k' -> [4096, 16384, 32768]."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        scale = 1024 if part.endswith("k") else 1
        try:
            out.append(int(float(part.rstrip("k")) * scale))
        except ValueError:
            raise ValueError(f"context length {part!r} is not a number like 4k or 4096") from None
    return out


def run(contexts: list[int], heads: int = 128, topk: int = TOPK, repeats: int = 5, device: str | None = None,
        dtype: torch.dtype = torch.float32, threads: int | None = None,
        index_dtype: torch.dtype = torch.bfloat16) -> dict:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if threads:
        torch.set_num_threads(threads)
    gen = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)

    scale = (128 + ROPE_DIM) ** -0.5
    rows = []
    with torch.inference_mode():
        q_lat, q_pe = rand(heads, KV_LORA_RANK), rand(heads, ROPE_DIM)
        q_idx, w_idx = rand(INDEX_HEADS, INDEX_DIM), rand(INDEX_HEADS)
        for length in contexts:
            latent, k_pe = rand(length, KV_LORA_RANK), rand(length, ROPE_DIM)
            k_idx = rand(length, INDEX_DIM).to(index_dtype)
            # partials bind this length's tensors (no closure over the loop variables deleted below)
            dense = _time(functools.partial(dense_step, q_lat, q_pe, latent, k_pe, scale), repeats)
            sparse = _time(functools.partial(sparse_step, q_lat, q_pe, latent, k_pe, q_idx, w_idx, k_idx, scale, topk),
                           repeats)
            rows.append({"context": length, "dense_ms": dense * 1e3, "sparse_ms": sparse * 1e3,
                         "ratio": dense / sparse})
            del latent, k_pe, k_idx
    return {"device": device, "dtype": str(dtype).removeprefix("torch."),
            "index_dtype": str(index_dtype).removeprefix("torch."), "heads": heads, "topk": topk,
            "kv_lora_rank": KV_LORA_RANK, "rope_dim": ROPE_DIM, "index_heads": INDEX_HEADS, "index_dim": INDEX_DIM,
            "threads": torch.get_num_threads(), "rows": rows}


def render(result: dict) -> str:
    threads = f"{result['threads']} thread{'s' * (result['threads'] != 1)}"
    lines = [f"one decode step's attention on {result['device']} ({result['dtype']}, {threads}): "
             f"{result['heads']} heads, latent {result['kv_lora_rank']} + rope {result['rope_dim']}, indexer "
             f"{result['index_heads']} x {result['index_dim']} ({result['index_dtype']} keys), top-k {result['topk']}",
             f"{'context':>8}  {'dense ms':>9}  {'sparse ms':>9}  {'dense/sparse':>12}"]
    for r in result["rows"]:
        lines.append(f"{r['context']:>8}  {r['dense_ms']:>9.2f}  {r['sparse_ms']:>9.2f}  {r['ratio']:>11.2f}x")
    return "\n".join(lines)
