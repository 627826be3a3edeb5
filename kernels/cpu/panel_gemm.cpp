#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>

namespace panel_gemm {
constexpr int NB = 24;                 // keep equal to PANEL in kernels/cpu/gemm.py
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
