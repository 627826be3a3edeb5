"""Decode attention straight from the paged GQA cache on CPU: a small C++ kernel, built once on first use.

A decode step has one query per sequence; its attention is a few MFLOP, yet through torch it cost two gathers of
every row's blocks per layer plus `scaled_dot_product_attention` (~0.25 ms a layer at batch 16, a fifth of the
step). This kernel reads each key and value where it lies in the pool, through the block table, and does the
softmax in float32 per (sequence, kv head): no gather, no temporaries. The build is cached by torch's extension
loader (~/.cache/torch_extensions); without a compiler, or with PROOFLOOP_NATIVE=0, `kernel()` is None and the
caller keeps the gather + SDPA path.
"""
from __future__ import annotations

import os

import torch

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <vector>

// q [B, H, D]; kpool, vpool [slots, KV, D]; blocks [B, NB] (block ids); lens [B] (keys 0..len-1 of each row)
torch::Tensor paged_decode(torch::Tensor q, torch::Tensor kpool, torch::Tensor vpool, torch::Tensor blocks,
                           torch::Tensor lens, int64_t block_size, double scale) {
  TORCH_CHECK(q.is_contiguous() && kpool.is_contiguous() && vpool.is_contiguous() && blocks.is_contiguous());
  TORCH_CHECK(q.scalar_type() == at::kFloat && kpool.scalar_type() == at::kFloat && vpool.scalar_type() == at::kFloat);
  TORCH_CHECK(blocks.scalar_type() == at::kLong && lens.scalar_type() == at::kLong && lens.is_contiguous());
  const int64_t B = q.size(0), H = q.size(1), D = q.size(2), KV = kpool.size(1), G = H / KV, NB = blocks.size(1);
  auto out = torch::empty_like(q);
  const float* qp = q.data_ptr<float>();
  const float* kp = kpool.data_ptr<float>();
  const float* vp = vpool.data_ptr<float>();
  const int64_t* bp = blocks.data_ptr<int64_t>();
  const int64_t* lp = lens.data_ptr<int64_t>();
  float* op = out.data_ptr<float>();
  const float sc = static_cast<float>(scale);
  // one item per sequence, all heads together: a token's keys for every head are one contiguous run, and a block's
  // tokens are contiguous, so the reads stream from memory (per head, they were latency-bound: 3x slower)
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> p;
    for (int64_t b = begin; b < end; ++b) {
      const int64_t len = lp[b];
      TORCH_CHECK(len >= 1 && len <= NB * block_size, "paged_decode: row length outside its blocks");
      p.assign(H * len, 0.f);
      const float* qb = qp + b * H * D;
      for (int64_t t = 0; t < len; ++t) {
        const int64_t slot = bp[b * NB + t / block_size] * block_size + t % block_size;
        const float* kt = kp + slot * KV * D;
        for (int64_t j = 0; j < H; ++j) {
          const float* qj = qb + j * D;
          const float* kr = kt + (j / G) * D;
          float acc = 0.f;
          #pragma omp simd reduction(+:acc)
          for (int64_t d = 0; d < D; ++d) acc += qj[d] * kr[d];
          p[j * len + t] = acc * sc;
        }
      }
      for (int64_t j = 0; j < H; ++j) {
        float* row = p.data() + j * len;
        float mx = row[0];
        for (int64_t t = 1; t < len; ++t) mx = std::max(mx, row[t]);
        float sum = 0.f;
        // vector expf (libmvec): scalar exp was most of the kernel's time. Weights below e^-60 become 0: they are
        // far below float32's resolution of a sum >= 1, and as denormals they would slow every use.
        #pragma omp simd reduction(+:sum)
        for (int64_t t = 0; t < len; ++t) {
          const float z = row[t] - mx;
          row[t] = z < -60.f ? 0.f : std::exp(z);
          sum += row[t];
        }
        const float inv = 1.f / sum;
        for (int64_t t = 0; t < len; ++t) row[t] *= inv;
      }
      float* ob = op + b * H * D;
      std::fill(ob, ob + H * D, 0.f);
      for (int64_t t = 0; t < len; ++t) {
        const int64_t slot = bp[b * NB + t / block_size] * block_size + t % block_size;
        const float* vt = vp + slot * KV * D;
        for (int64_t j = 0; j < H; ++j) {
          const float w = p[j * len + t];
          const float* vr = vt + (j / G) * D;
          float* oj = ob + j * D;
          #pragma omp simd
          for (int64_t d = 0; d < D; ++d) oj[d] += w * vr[d];
        }
      }
    }
  });
  return out;
}
"""

_kernel = None
_tried = False


def kernel():
    """The compiled `paged_decode(q, kpool, vpool, blocks, lens, block_size, scale)`, or None if unavailable."""
    global _kernel, _tried
    if not _tried:
        _tried = True
        if os.environ.get("PROOFLOOP_NATIVE", "1") != "0":
            try:
                from torch.utils.cpp_extension import load_inline

                _kernel = load_inline("proofloop_paged_decode", cpp_sources=_SOURCE, functions=["paged_decode"],
                                      extra_cflags=["-O3", "-march=native", "-fopenmp", "-ffast-math"],
                                      extra_ldflags=["-lmvec"], verbose=False).paged_decode
            except Exception:  # no compiler or headers: the torch path still works
                _kernel = None
    return _kernel


def usable(device: torch.device, dtype: torch.dtype) -> bool:
    return device.type == "cpu" and dtype == torch.float32 and kernel() is not None
