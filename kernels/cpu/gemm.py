"""Decode-sized float32 GEMMs on CPU (AVX-512): y[M, N] = x[M, K] @ W[N, K]^T for M from 1 to a few dozen rows.

A decode step at batch 16 reads every weight once from memory and does 32 FLOP per weight; oneDNN runs that at
~140 GFLOP/s on this kind of core, though the same GEMM with the weights already in cache runs at ~195. The missing
part is memory latency: its reads are not started early enough. Here the weights are packed once into panels of 24
output rows ([P, K, 24]: one panel is one contiguous stream) and every k step prefetches the panel 8 KB ahead, so
memory and FMAs overlap (~185 GFLOP/s, 1.4x oneDNN at 16 rows; `proofloop bench cpu` measures it).

Two inner kernels over the same panels:
- `wide`, 16 rows at a time: x is transposed so one zmm holds x[0:16, k], and each of the panel's 24 weights at k is
  one broadcast FMA into its own accumulator (24 of the 32 registers).
- `narrow`, 1 to 8 rows: the usual form, one broadcast of x[m, k] against the panel's 24 weights (a zmm and a ymm).
"""
from __future__ import annotations

import torch

PANEL = 24  # output rows per panel: divides the hidden, MLP, attention and vocabulary sizes of the models we run

SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>

namespace panel_gemm {
constexpr int NB = 24;                 // keep equal to PANEL in model/cpu_gemm.py
constexpr int64_t PREFETCH = 2048;     // floats ahead in the panel stream (8 KB): measured best of 256..8192

__attribute__((target("avx512f")))
static void wide(const float* xt, int64_t chunks, int64_t K, const float* w, float* tmp) {
  // xt [chunks, K, 16]; w [K, NB]; tmp [chunks, NB, 16]
  for (int64_t c = 0; c < chunks; ++c) {
    __m512 acc[NB];
    for (int j = 0; j < NB; ++j) acc[j] = _mm512_setzero_ps();
    const float* xc = xt + c * K * 16;
    for (int64_t k = 0; k < K; ++k) {
      const float* wk = w + k * NB;
      if (c == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(wk + PREFETCH), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(wk + PREFETCH + 16), _MM_HINT_T0);
      }
      const __m512 xk = _mm512_loadu_ps(xc + k * 16);
      #pragma GCC unroll 24
      for (int j = 0; j < NB; ++j) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(wk[j]), xk, acc[j]);
    }
    for (int j = 0; j < NB; ++j) _mm512_storeu_ps(tmp + (c * NB + j) * 16, acc[j]);
  }
}

template <int MT>
__attribute__((target("avx512f,avx512vl")))
static void narrow(const float* x, int64_t K, const float* w, float* y, int64_t N, int64_t n0, int64_t nc) {
  __m512 lo[MT];
  __m256 hi[MT];
  for (int m = 0; m < MT; ++m) { lo[m] = _mm512_setzero_ps(); hi[m] = _mm256_setzero_ps(); }
  for (int64_t k = 0; k < K; ++k) {
    const float* wk = w + k * NB;
    _mm_prefetch(reinterpret_cast<const char*>(wk + PREFETCH), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wk + PREFETCH + 16), _MM_HINT_T0);
    const __m512 w0 = _mm512_loadu_ps(wk);
    const __m256 w1 = _mm256_loadu_ps(wk + 16);
    #pragma GCC unroll 8
    for (int m = 0; m < MT; ++m) {
      const float xv = x[m * K + k];
      lo[m] = _mm512_fmadd_ps(_mm512_set1_ps(xv), w0, lo[m]);
      hi[m] = _mm256_fmadd_ps(_mm256_set1_ps(xv), w1, hi[m]);
    }
  }
  alignas(64) float row[NB];
  for (int m = 0; m < MT; ++m) {
    _mm512_storeu_ps(row, lo[m]);
    _mm256_storeu_ps(row + 16, hi[m]);
    for (int64_t j = 0; j < nc; ++j) y[m * N + n0 + j] = row[j];
  }
}

__attribute__((target("avx512f,avx512vl")))
static void narrow_rows(const float* x, int64_t M, int64_t K, const float* w, float* y, int64_t N, int64_t n0,
                        int64_t nc) {
  switch (M) {
    case 1: narrow<1>(x, K, w, y, N, n0, nc); break;
    case 2: narrow<2>(x, K, w, y, N, n0, nc); break;
    case 3: narrow<3>(x, K, w, y, N, n0, nc); break;
    case 4: narrow<4>(x, K, w, y, N, n0, nc); break;
    case 5: narrow<5>(x, K, w, y, N, n0, nc); break;
    case 6: narrow<6>(x, K, w, y, N, n0, nc); break;
    case 7: narrow<7>(x, K, w, y, N, n0, nc); break;
    case 8: narrow<8>(x, K, w, y, N, n0, nc); break;
    default: TORCH_CHECK(false, "panel_linear: the narrow kernel takes 1..8 rows");
  }
}
}  // namespace panel_gemm

bool panel_gemm_supported() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"); }
#else
bool panel_gemm_supported() { return false; }
#endif

// x [M, K] float32 contiguous; panels [P, K, NB] (rows n of W at panels[n / NB, :, n % NB], zero padded); N <= P * NB
// Rows go 16 at a time through `wide`; a last group of 1..8 rows through `narrow` (the panel is then in cache), a
// last group of 9..15 through `wide` with zero rows.
torch::Tensor panel_linear(torch::Tensor x, torch::Tensor panels, int64_t N) {
#if !defined(__x86_64__)
  TORCH_CHECK(false, "panel_linear: needs an x86-64 CPU with AVX-512");
#else
  using namespace panel_gemm;
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && x.scalar_type() == at::kFloat, "panel_linear: x [M, K] float32");
  TORCH_CHECK(panels.dim() == 3 && panels.is_contiguous() && panels.size(2) == NB && panels.size(1) == x.size(1)
              && panels.scalar_type() == at::kFloat && N <= panels.size(0) * NB, "panel_linear: panels [P, K, 24]");
  const int64_t M = x.size(0), K = x.size(1), P = panels.size(0);
  auto y = torch::empty({M, N}, x.options());
  if (M == 0 || N == 0) return y;
  const float* xp = x.data_ptr<float>();
  const float* wp = panels.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const int64_t tail = M % 16 <= 8 ? M % 16 : 0;  // rows left to `narrow`
  const int64_t wide_rows = M - tail, chunks = (wide_rows + 15) / 16;
  std::vector<float> xt(chunks * K * 16, 0.f);  // those rows transposed in chunks of 16, missing rows zero
  for (int64_t m = 0; m < wide_rows; ++m)
    for (int64_t k = 0; k < K; ++k) xt[((m / 16) * K + k) * 16 + m % 16] = xp[m * K + k];
  at::parallel_for(0, P, 16, [&](int64_t pb, int64_t pe) {
    std::vector<float> tmp(chunks * NB * 16);
    for (int64_t p = pb; p < pe; ++p) {
      const float* w = wp + p * K * NB;
      const int64_t n0 = p * NB, nc = std::min<int64_t>(NB, N - n0);
      if (chunks) {
        wide(xt.data(), chunks, K, w, tmp.data());
        for (int64_t m = 0; m < wide_rows; ++m) {
          const float* t = tmp.data() + (m / 16) * NB * 16 + m % 16;
          float* ym = yp + m * N + n0;
          for (int64_t j = 0; j < nc; ++j) ym[j] = t[j * 16];
        }
      }
      if (tail) narrow_rows(xp + wide_rows * K, tail, K, w, yp + wide_rows * N, N, n0, nc);
    }
  });
  return y;
#endif
}
"""

FUNCTIONS = ["panel_linear", "panel_gemm_supported"]


def pack(weight: torch.Tensor) -> torch.Tensor:
    """W [N, K] -> panels [ceil(N / 24), K, 24], the rows past N zero."""
    n, k = weight.shape
    p = -(-n // PANEL)
    padded = torch.zeros(p * PANEL, k, dtype=torch.float32)
    padded[:n] = weight.detach().float()
    return padded.view(p, PANEL, k).transpose(1, 2).contiguous()


def kernel():
    """The compiled `panel_linear(x, panels, N)`, or None where there is no compiler or no AVX-512."""
    from kernels.cpu import build as native

    mod = native.module()
    if mod is None or not mod.panel_gemm_supported():
        return None
    return mod.panel_linear


def reference(x: torch.Tensor, panels: torch.Tensor, n: int) -> torch.Tensor:
    """What the kernel computes, in torch: the test oracle."""
    p, k, nb = panels.shape
    return x @ panels.transpose(1, 2).reshape(p * nb, k)[:n].T
