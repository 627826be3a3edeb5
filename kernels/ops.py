"""Public kernel entry points: check the arguments, then run the Triton kernel or the PyTorch reference.

The Triton kernel runs on CUDA tensors, the reference elsewhere. `use_backend("triton")` forces the kernels
(on CPU that needs TRITON_INTERPRET=1 set before triton is imported, as the tests do), `use_backend("torch")`
forces the references; the PROOFLOOP_KERNELS environment variable (auto | triton | torch) sets the default.
Each op's module (and triton with it) is imported on first use, so `import kernels` stays cheap.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
import os

import torch

from kernels.errors import KernelError

BACKENDS = ("auto", "triton", "torch")
_backend: contextvars.ContextVar[str | None] = contextvars.ContextVar("proofloop_kernels_backend", default=None)


def current_backend() -> str:
    """The backend in force: the innermost use_backend(), else $PROOFLOOP_KERNELS, else "auto"."""
    name = _backend.get() or os.environ.get("PROOFLOOP_KERNELS", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise KernelError(f"PROOFLOOP_KERNELS={name!r} is not a kernel backend; use one of {', '.join(BACKENDS)}")
    return name


@contextlib.contextmanager
def use_backend(name: str):
    """Run the block with kernel dispatch forced to "triton" or "torch" ("auto": by device)."""
    if name not in BACKENDS:
        raise KernelError(f"unknown kernel backend {name!r}; use one of {', '.join(BACKENDS)}")
    token = _backend.set(name)
    try:
        yield
    finally:
        _backend.reset(token)


def _impl(op: str, lead: torch.Tensor, fn: str | None = None):
    """The function implementing `op` (kernels/<op>.py: <fn>_triton or <fn>_ref, fn defaulting to op) for a call
    whose main tensor is `lead`."""
    name = current_backend()
    use_triton = name == "triton" or (name == "auto" and lead.is_cuda)
    interpreting = os.environ.get("TRITON_INTERPRET", "").strip().lower() in ("1", "true", "on", "yes")
    if use_triton and not lead.is_cuda and not interpreting:
        raise KernelError(f"{op}: Triton kernels need CUDA tensors (got {lead.device}); on CPU set "
                          "TRITON_INTERPRET=1 before importing triton, or use the torch backend")
    module = importlib.import_module(f"kernels.{op}")
    return getattr(module, f"{fn or op}_triton" if use_triton else f"{fn or op}_ref")


def _need(cond: bool, op: str, message: str) -> None:
    if not cond:
        raise KernelError(f"{op}: {message}")


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def hadamard(x: torch.Tensor) -> torch.Tensor:
    """x @ H_D / sqrt(D) over the last dimension (Sylvester-order Hadamard matrix, D a power of two)."""
    _need(x.dim() >= 1 and _pow2(x.shape[-1]), "hadamard", f"x's last dimension must be a power of two, got "
          f"shape {tuple(x.shape)}")
    return _impl("hadamard", x)(x)


def act_quant(x: torch.Tensor, block: int = 128, pow2_scale: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-wise e4m3 quantization along the last dimension -> (x_fp8, scale[..., ceil(D/block)] fp32)."""
    _need(x.dim() >= 1 and x.is_floating_point(), "act_quant", f"x must be a float tensor, got {x.dtype}")
    _need(block > 0, "act_quant", f"block must be positive, got {block}")
    return _impl("act_quant", x)(x, block, pow2_scale)


def fp8_gemm(a_fp8: torch.Tensor, a_scale: torch.Tensor, b_fp8: torch.Tensor, b_scale: torch.Tensor) -> torch.Tensor:
    """[M, K] e4m3 x [N, K] e4m3 with per-(row, 128 K) and per-(128 N, 128 K) scales -> [M, N] bf16."""
    op = "fp8_gemm"
    _need(a_fp8.dim() == 2 and b_fp8.dim() == 2 and a_fp8.shape[1] == b_fp8.shape[1], op,
          f"a_fp8 [M, K] and b_fp8 [N, K] must share K, got {tuple(a_fp8.shape)} and {tuple(b_fp8.shape)}")
    m, k = a_fp8.shape
    n = b_fp8.shape[0]
    kb, nb = -(-k // 128), -(-n // 128)
    _need(tuple(a_scale.shape) == (m, kb), op, f"a_scale must be [{m}, {kb}], got {tuple(a_scale.shape)}")
    _need(tuple(b_scale.shape) == (nb, kb), op, f"b_scale must be [{nb}, {kb}], got {tuple(b_scale.shape)}")
    _need(a_fp8.dtype == torch.float8_e4m3fn and b_fp8.dtype == torch.float8_e4m3fn, op,
          f"a_fp8 and b_fp8 must be float8_e4m3fn, got {a_fp8.dtype} and {b_fp8.dtype}")
    return _impl(op, a_fp8)(a_fp8, a_scale, b_fp8, b_scale)


def _check_indexer(op, q, k, weights, starts, ends):
    _need(q.dim() == 3 and k.dim() == 2 and q.shape[2] == k.shape[1], op,
          f"q must be [T, H, D] and k [S, D], got {tuple(q.shape)} and {tuple(k.shape)}")
    t, h, _ = q.shape
    _need(tuple(weights.shape) == (t, h), op, f"weights must be [{t}, {h}], got {tuple(weights.shape)}")
    _need(tuple(starts.shape) == (t,) and tuple(ends.shape) == (t,), op,
          f"starts and ends must be [{t}], got {tuple(starts.shape)} and {tuple(ends.shape)}")


def indexer_logits(q: torch.Tensor, k: torch.Tensor, weights: torch.Tensor, starts: torch.Tensor,
                   ends: torch.Tensor) -> torch.Tensor:
    """[T, S] fp32: sum_h weights[t, h] * relu(q[t, h] . k[s]) for starts[t] <= s < ends[t], -inf elsewhere."""
    _check_indexer("indexer_logits", q, k, weights, starts, ends)
    return _impl("indexer_logits", q)(q, k, weights, starts, ends)


def indexer_logits_fp8(q_fp8: torch.Tensor, k_fp8: torch.Tensor, k_scale: torch.Tensor, weights: torch.Tensor,
                       starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """indexer_logits on e4m3 q and k, k dequantized by k_scale[S]; fold q's scale into weights beforehand."""
    op = "indexer_logits_fp8"
    _check_indexer(op, q_fp8, k_fp8, weights, starts, ends)
    _need(tuple(k_scale.shape) == (k_fp8.shape[0],), op,
          f"k_scale must be [{k_fp8.shape[0]}], got {tuple(k_scale.shape)}")
    return _impl("indexer_logits", q_fp8, op)(q_fp8, k_fp8, k_scale, weights, starts, ends)


def topk_indices(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[T, k] int32: each row's k largest finite scores' indices, ascending, -1 padded."""
    _need(scores.dim() == 2, "topk_indices", f"scores must be [T, S], got {tuple(scores.shape)}")
    _need(k >= 0, "topk_indices", f"k must be >= 0, got {k}")
    return _impl("topk_indices", scores)(scores, k)


def sparse_mla_decode(q: torch.Tensor, kv: torch.Tensor, indices: torch.Tensor, sm_scale: float,
                      dv: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of q[B, H, Dqk] over rows kv[indices[b]] (-1 skipped), values = first dv columns -> (out, lse)."""
    op = "sparse_mla_decode"
    _need(q.dim() == 3 and kv.dim() == 2 and q.shape[2] == kv.shape[1], op,
          f"q must be [B, H, Dqk] and kv [N, Dqk], got {tuple(q.shape)} and {tuple(kv.shape)}")
    _need(indices.dim() == 2 and indices.shape[0] == q.shape[0], op,
          f"indices must be [{q.shape[0]}, K], got {tuple(indices.shape)}")
    _need(0 < dv <= q.shape[2], op, f"dv must be in 1..{q.shape[2]}, got {dv}")
    return _impl(op, q)(q, kv, indices, sm_scale, dv)


def fused_moe(x: torch.Tensor, w13: torch.Tensor, w2: torch.Tensor, topk_ids: torch.Tensor,
              topk_weights: torch.Tensor) -> torch.Tensor:
    """sum_j topk_weights[t, j] * w2[e] @ (silu(w1[e] x[t]) * (w3[e] x[t])), e = topk_ids[t, j]; w13 = [w1; w3]."""
    op = "fused_moe"
    _need(x.dim() == 2 and w13.dim() == 3 and w2.dim() == 3, op,
          f"x must be [T, Hd], w13 [E, 2I, Hd], w2 [E, Hd, I], got {tuple(x.shape)}, {tuple(w13.shape)}, "
          f"{tuple(w2.shape)}")
    e, two_i, hd = w13.shape
    _need(hd == x.shape[1] and two_i % 2 == 0 and tuple(w2.shape) == (e, hd, two_i // 2), op,
          f"shapes disagree: x {tuple(x.shape)}, w13 {tuple(w13.shape)}, w2 {tuple(w2.shape)}")
    _need(topk_ids.shape == topk_weights.shape and topk_ids.dim() == 2 and topk_ids.shape[0] == x.shape[0], op,
          f"topk_ids and topk_weights must both be [{x.shape[0]}, k], got {tuple(topk_ids.shape)} and "
          f"{tuple(topk_weights.shape)}")
    return _impl(op, x)(x, w13, w2, topk_ids, topk_weights)


def paged_rows(positions: torch.Tensor, block_table: torch.Tensor, block_size: int) -> torch.Tensor:
    """[B, K] int32 rows of a paged cache (viewed [blocks * block_size, D]) for token positions (-1 kept)."""
    op = "paged_rows"
    _need(positions.dim() == 2 and block_table.dim() == 2 and block_table.shape[0] == positions.shape[0], op,
          f"positions must be [B, K] and block_table [B, max_blocks], got {tuple(positions.shape)} and "
          f"{tuple(block_table.shape)}")
    _need(block_size > 0, op, f"block_size must be positive, got {block_size}")
    return _impl(op, positions)(positions, block_table, block_size)


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float, residual: torch.Tensor | None = None):
    """RMSNorm of the last dimension; with residual, normalizes x + residual and returns (normed, x + residual)."""
    _need(tuple(weight.shape) == (x.shape[-1],), "rmsnorm",
          f"weight must be [{x.shape[-1]}], got {tuple(weight.shape)}")
    _need(residual is None or residual.shape == x.shape, "rmsnorm",
          f"residual must have x's shape {tuple(x.shape)}, got {None if residual is None else tuple(residual.shape)}")
    return _impl("rmsnorm", x)(x, weight, eps, residual)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool = True) -> torch.Tensor:
    """Rotate x[T, ..., D] by per-position angles cos/sin[T, D/2]; pairs (2i, 2i+1) if interleaved else (i, i+D/2)."""
    _need(x.dim() >= 2 and x.shape[-1] % 2 == 0, "rope", f"x must be [T, ..., D] with D even, got {tuple(x.shape)}")
    t, d = x.shape[0], x.shape[-1]
    _need(tuple(cos.shape) == (t, d // 2) and tuple(sin.shape) == (t, d // 2), "rope",
          f"cos and sin must be [{t}, {d // 2}], got {tuple(cos.shape)} and {tuple(sin.shape)}")
    x3 = x.reshape(t, -1, d)
    return _impl("rope", x)(x3, cos, sin, interleaved).view(x.shape)
