"""FP8 GEMM in DeepSeek-V3's block-scaled format: C[M, N] = A[M, K] @ B[N, K]^T, in bf16.

A is quantized per token and 128-wide K block (a_scale[M, ceil(K/128)]), B per 128x128 tile
(b_scale[ceil(N/128), ceil(K/128)]): the real value of A[m, k] is a_fp8[m, k] * a_scale[m, k // 128], of B[n, k]
is b_fp8[n, k] * b_scale[n // 128, k // 128]. Each 128-wide K block is multiplied on FP8 tensor cores, then scaled
and added into an fp32 accumulator.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._tl import cast, mma

QBLOCK = 128


def fp8_gemm_ref(a_fp8: torch.Tensor, a_scale: torch.Tensor, b_fp8: torch.Tensor,
                 b_scale: torch.Tensor) -> torch.Tensor:
    m, k = a_fp8.shape
    n = b_fp8.shape[0]
    a = a_fp8.float() * a_scale.float().repeat_interleave(QBLOCK, dim=1)[:, :k]
    bs = b_scale.float().repeat_interleave(QBLOCK, dim=0)[:n].repeat_interleave(QBLOCK, dim=1)[:, :k]
    b = b_fp8.float() * bs
    return (a @ b.t()).to(torch.bfloat16)


def _configs():
    return [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
            for bm, bn, w, s in [(64, 64, 8, 3), (32, 64, 8, 3), (16, 64, 4, 3)]]  # no register spills on sm_90


@triton.jit
def _fp8_gemm_body(a_ptr, b_ptr, c_ptr, as_ptr, bs_ptr, M, N, K, NKB, M_BUCKET,
                   stride_am, stride_bn, stride_cm, stride_asm, stride_bsn,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                   INTERPRETED: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mmask = offs_m < M
    nmask = offs_n < N
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :]
    b_ptrs = b_ptr + offs_n[None, :] * stride_bn + offs_k[:, None]
    as_ptrs = as_ptr + offs_m * stride_asm
    bs_ptrs = bs_ptr + (offs_n // BLOCK_K) * stride_bsn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for kb in range(0, NKB):
        kmask = offs_k < K - kb * BLOCK_K
        a = tl.load(a_ptrs, mask=mmask[:, None] & kmask[None, :], other=0.0)
        b = tl.load(b_ptrs, mask=kmask[:, None] & nmask[None, :], other=0.0)
        sa = tl.load(as_ptrs + kb, mask=mmask, other=0.0)
        sb = tl.load(bs_ptrs + kb, mask=nmask, other=0.0)
        part = mma(a, b, tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32), INTERPRETED)
        acc += part * sa[:, None] * sb[None, :]
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K
    c = cast(acc, c_ptr.dtype.element_ty, INTERPRETED)
    tl.store(c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :], c, mask=mmask[:, None] & nmask[None, :])


@triton.jit
def _fp8_gemm_tma_body(a_desc, b_desc, c_ptr, as_ptr, bs_ptr, M, N, K, NKB, M_BUCKET,
                       stride_cm, stride_asm, stride_bsn,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       INTERPRETED: tl.constexpr):
    """Same math as _fp8_gemm_body, with A and B tiles fetched by TMA (tensor descriptors, zero-filled past the
    edges): no per-element pointers in registers, and the loads feed wgmma straight from shared memory."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mmask = offs_m < M
    nmask = offs_n < N
    as_ptrs = as_ptr + offs_m * stride_asm
    bs_ptrs = bs_ptr + (offs_n // BLOCK_K) * stride_bsn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for kb in range(0, NKB):
        a = a_desc.load([pid_m * BLOCK_M, kb * BLOCK_K])
        b = b_desc.load([pid_n * BLOCK_N, kb * BLOCK_K])
        sa = tl.load(as_ptrs + kb, mask=mmask, other=0.0)
        sb = tl.load(bs_ptrs + kb, mask=nmask, other=0.0)
        part = mma(a, b.T, tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32), INTERPRETED)
        acc += part * sa[:, None] * sb[None, :]
    c = cast(acc, c_ptr.dtype.element_ty, INTERPRETED)
    tl.store(c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :], c, mask=mmask[:, None] & nmask[None, :])


def _tma_block_shapes(nargs):
    nargs["a_desc"].block_shape = [nargs["BLOCK_M"], nargs["BLOCK_K"]]
    nargs["b_desc"].block_shape = [nargs["BLOCK_N"], nargs["BLOCK_K"]]


def _tma_configs():
    return [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s, pre_hook=_tma_block_shapes)
            for bm, bn, w, s in [(64, 128, 4, 4), (128, 128, 8, 3), (64, 64, 4, 5), (128, 64, 4, 4),
                                 (16, 64, 4, 5)]]


def _tma_ok(t: torch.Tensor) -> bool:
    """TMA needs 16-byte aligned base and row stride (e4m3: K a multiple of 16) and a contiguous last dim."""
    return t.stride(-1) == 1 and t.stride(0) % 16 == 0 and t.data_ptr() % 16 == 0


_kernel_cache: dict[str, object] = {}


def _kernel(tuned: bool, tma: bool = False):
    key = f"{'tuned' if tuned else 'plain'}-{'tma' if tma else 'ptr'}"
    if key not in _kernel_cache:
        body = _fp8_gemm_tma_body if tma else _fp8_gemm_body
        configs = _tma_configs() if tma else _configs()
        _kernel_cache[key] = triton.autotune(configs, key=["N", "K", "M_BUCKET"])(body) if tuned else body
    return _kernel_cache[key]


def fp8_gemm_triton(a_fp8: torch.Tensor, a_scale: torch.Tensor, b_fp8: torch.Tensor, b_scale: torch.Tensor,
                    use_tma: bool | None = None) -> torch.Tensor:
    """use_tma: fetch tiles with TMA descriptors (default: on Hopper or newer when the strides allow it); the
    pointer kernel otherwise (tests force each under the interpreter)."""
    m, k = a_fp8.shape
    n = b_fp8.shape[0]
    a_fp8 = a_fp8 if a_fp8.stride(-1) == 1 else a_fp8.contiguous()
    b_fp8 = b_fp8 if b_fp8.stride(-1) == 1 else b_fp8.contiguous()
    a_scale = a_scale.float().contiguous()
    b_scale = b_scale.float().contiguous()
    c = torch.empty((m, n), dtype=torch.bfloat16, device=a_fp8.device)
    if m == 0 or n == 0:
        return c
    nkb = triton.cdiv(k, QBLOCK)
    m_bucket = min(triton.next_power_of_2(m), 4096)  # tune once per power-of-two row count, not per M
    scales = (a_scale, b_scale)
    if use_tma is None:
        use_tma = a_fp8.is_cuda and torch.cuda.get_device_capability(a_fp8.device)[0] >= 9
    use_tma = use_tma and _tma_ok(a_fp8) and _tma_ok(b_fp8)
    args: tuple  # the kernel's arguments: tensor descriptors with TMA, pointers and strides without
    if use_tma:
        from triton.tools.tensor_descriptor import TensorDescriptor

        bm, bn = (64, 128) if a_fp8.is_cuda else (16, 32)  # replaced by the autotuner's pre_hook on a GPU
        a_desc = TensorDescriptor.from_tensor(a_fp8, [bm, QBLOCK])
        b_desc = TensorDescriptor.from_tensor(b_fp8, [bn, QBLOCK])
        args = (a_desc, b_desc, c, *scales, m, n, k, nkb, m_bucket, c.stride(0), a_scale.stride(0), b_scale.stride(0))
    else:
        bm, bn = 16, 32
        args = (a_fp8, b_fp8, c, *scales, m, n, k, nkb, m_bucket,
                a_fp8.stride(0), b_fp8.stride(0), c.stride(0), a_scale.stride(0), b_scale.stride(0))
    if a_fp8.is_cuda:
        kern = _kernel(True, use_tma)
        grid = lambda meta: (triton.cdiv(m, meta["BLOCK_M"]), triton.cdiv(n, meta["BLOCK_N"]))  # noqa: E731
        kern[grid](*args, BLOCK_K=QBLOCK, INTERPRETED=False)
    else:  # interpreter: one small fixed tile, no tuning sweep
        _kernel(False, use_tma)[(triton.cdiv(m, bm), triton.cdiv(n, bn))](*args, BLOCK_M=bm, BLOCK_N=bn,
                                                                          BLOCK_K=QBLOCK, INTERPRETED=True)
    return c
