#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace paged_attention {
// `offsets[t]` is where token t's row (all kv heads) starts in the pools; `p` is [H, len], scores then weights.

static void scores_plain(const float* q, const float* kp, const int64_t* offsets, int64_t len, int64_t H, int64_t G,
                         int64_t D, float sc, float* p) {
  for (int64_t t = 0; t < len; ++t) {
    const float* kt = kp + offsets[t];
    for (int64_t j = 0; j < H; ++j) {
      const float* qj = q + j * D;
      const float* kr = kt + (j / G) * D;
      float acc = 0.f;
      #pragma omp simd reduction(+:acc)
      for (int64_t d = 0; d < D; ++d) acc += qj[d] * kr[d];
      p[j * len + t] = acc * sc;
    }
  }
}

static void values_plain(const float* p, const float* vp, const int64_t* offsets, int64_t len, int64_t H, int64_t G,
                         int64_t D, float* out) {
  std::fill(out, out + H * D, 0.f);
  for (int64_t t = 0; t < len; ++t) {
    const float* vt = vp + offsets[t];
    for (int64_t j = 0; j < H; ++j) {
      const float w = p[j * len + t];
      const float* vr = vt + (j / G) * D;
      float* oj = out + j * D;
      #pragma omp simd
      for (int64_t d = 0; d < D; ++d) oj[d] += w * vr[d];
    }
  }
}

#if defined(__x86_64__)
// r[i] = sum of v[i]'s 16 lanes, for 16 vectors at once: ~3 instructions a sum instead of ~12 for one at a time
__attribute__((target("avx512f")))
static inline __m512 sum16(const __m512* v) {
  __m512 pairs[8], quads[4];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: (a0+a2, b0+b2, a1+a3, b1+b3)
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; ++i) {  // per lane: the lane's sum of each of 4 vectors
    const __m512d a = _mm512_castps_pd(pairs[2 * i]), b = _mm512_castps_pd(pairs[2 * i + 1]);
    quads[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  __m512 halves[2];
  for (int i = 0; i < 2; ++i)  // lanes 0+1 and 2+3, for 8 vectors
    halves[i] = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], 0x88),
                              _mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(halves[0], halves[1], 0x88),
                       _mm512_shuffle_f32x4(halves[0], halves[1], 0xDD));
}

// 16 tokens at a time; the query heads sharing a kv head take turns on the same keys, so keys stream once
template <int DV>
__attribute__((target("avx512f")))
static void scores_avx512(const float* q, const float* kp, const float* vp, const int64_t* offsets, int64_t len,
                          int64_t H, int64_t G, float sc, float* p) {
  constexpr int64_t D = DV * 16;
  const __m512 scale = _mm512_set1_ps(sc);
  const int64_t row = (H / G) * D;  // floats of one token's keys (all kv heads), and of its values
  for (int64_t t0 = 0; t0 < len; t0 += 16) {
    const int64_t n = std::min<int64_t>(16, len - t0);
    const __mmask16 keep = static_cast<__mmask16>((1u << n) - 1);
    // the cache is cold here (the weights streamed through since this layer's last step): ask for the next 16
    // tokens' keys and values now, so the reads overlap this chunk's work
    for (int64_t t = t0 + 16; t < std::min<int64_t>(len, t0 + 32); ++t)
      for (int64_t f = 0; f < row; f += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(kp + offsets[t] + f), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(vp + offsets[t] + f), _MM_HINT_T1);
      }
    for (int64_t j = 0; j < H; ++j) {
      __m512 qv[DV];
      for (int d = 0; d < DV; ++d) qv[d] = _mm512_loadu_ps(q + j * D + 16 * d);
      __m512 acc[16];
      for (int i = 0; i < 16; ++i) {
        const float* kr = kp + offsets[t0 + std::min<int64_t>(i, n - 1)] + (j / G) * D;
        __m512 a = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kr));
        for (int d = 1; d < DV; ++d) a = _mm512_fmadd_ps(qv[d], _mm512_loadu_ps(kr + 16 * d), a);
        acc[i] = a;
      }
      _mm512_mask_storeu_ps(p + j * len + t0, keep, _mm512_mul_ps(sum16(acc), scale));
    }
  }
}

// the output rows stay in registers over 64 tokens at a time
template <int DV>
__attribute__((target("avx512f")))
static void values_avx512(const float* p, const float* vp, const int64_t* offsets, int64_t len, int64_t H,
                          int64_t G, float* out) {
  constexpr int64_t D = DV * 16;
  std::fill(out, out + H * D, 0.f);
  for (int64_t t0 = 0; t0 < len; t0 += 64) {
    const int64_t t1 = std::min<int64_t>(len, t0 + 64);
    for (int64_t j = 0; j < H; ++j) {
      __m512 acc[DV];
      for (int d = 0; d < DV; ++d) acc[d] = _mm512_loadu_ps(out + j * D + 16 * d);
      const float* pj = p + j * len;
      for (int64_t t = t0; t < t1; ++t) {
        const __m512 w = _mm512_set1_ps(pj[t]);
        const float* vr = vp + offsets[t] + (j / G) * D;
        for (int d = 0; d < DV; ++d) acc[d] = _mm512_fmadd_ps(w, _mm512_loadu_ps(vr + 16 * d), acc[d]);
      }
      for (int d = 0; d < DV; ++d) _mm512_storeu_ps(out + j * D + 16 * d, acc[d]);
    }
  }
}

static bool has_avx512() { return __builtin_cpu_supports("avx512f"); }
#else  // elsewhere the plain loops (which the compiler vectorises) do all the work
static bool has_avx512() { return false; }
template <int DV>
static void scores_avx512(const float*, const float*, const float*, const int64_t*, int64_t, int64_t, int64_t, float,
                          float*) {}
template <int DV>
static void values_avx512(const float*, const float*, const int64_t*, int64_t, int64_t, int64_t, float*) {}
#endif

static void softmax_rows(float* p, int64_t H, int64_t len) {
  for (int64_t j = 0; j < H; ++j) {
    float* row = p + j * len;
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
}
}  // namespace paged_attention

// q [B, H, D]; kpool, vpool [slots, KV, D]; blocks [B, NB] (block ids); lens [B] (keys 0..len-1 of each row)
static void check_cache(const torch::Tensor& kpool, const torch::Tensor& vpool, const torch::Tensor& blocks,
                        const torch::Tensor& lens) {
  TORCH_CHECK(kpool.is_contiguous() && vpool.is_contiguous() && blocks.is_contiguous() && lens.is_contiguous());
  TORCH_CHECK(kpool.scalar_type() == at::kFloat && vpool.scalar_type() == at::kFloat);
  TORCH_CHECK(blocks.scalar_type() == at::kLong && lens.scalar_type() == at::kLong);
}

static void decode_rows(const float* qp, int64_t B, int64_t H, int64_t D, const torch::Tensor& kpool,
                        const torch::Tensor& vpool, const torch::Tensor& blocks, const torch::Tensor& lens,
                        int64_t block_size, double scale, float* op) {
  using namespace paged_attention;
  const int64_t KV = kpool.size(1), G = H / KV, NB = blocks.size(1), pool_blocks = kpool.size(0) / block_size;
  TORCH_CHECK(block_size >= 1 && KV >= 1 && H % KV == 0 && kpool.size(2) == D && vpool.sizes() == kpool.sizes(),
              "paged_decode: pools [slots, KV, D] with KV dividing the query heads");
  const float* kp = kpool.data_ptr<float>();
  const float* vp = vpool.data_ptr<float>();
  const int64_t* bp = blocks.data_ptr<int64_t>();
  const int64_t* lp = lens.data_ptr<int64_t>();
  const float sc = static_cast<float>(scale);
  const bool avx512 = has_avx512() && (D == 64 || D == 128);
  // one item per sequence, all heads together: a token's keys for every head are one contiguous run, and a block's
  // tokens are contiguous, so the reads stream from memory (per head, they were latency-bound: 3x slower)
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> p;
    std::vector<int64_t> offsets;
    for (int64_t b = begin; b < end; ++b) {
      const int64_t len = lp[b];
      TORCH_CHECK(len >= 1 && len <= NB * block_size, "paged_decode: row length outside its blocks");
      offsets.resize(len);
      for (int64_t t = 0; t < len; ++t) {
        const int64_t block = bp[b * NB + t / block_size];
        TORCH_CHECK(block >= 0 && block < pool_blocks, "paged_decode: block id outside the pool");
        offsets[t] = (block * block_size + t % block_size) * KV * D;
      }
      p.resize(H * len);
      const float* qb = qp + b * H * D;
      float* ob = op + b * H * D;
      if (avx512 && D == 64) scores_avx512<4>(qb, kp, vp, offsets.data(), len, H, G, sc, p.data());
      else if (avx512) scores_avx512<8>(qb, kp, vp, offsets.data(), len, H, G, sc, p.data());
      else scores_plain(qb, kp, offsets.data(), len, H, G, D, sc, p.data());
      softmax_rows(p.data(), H, len);
      if (avx512 && D == 64) values_avx512<4>(p.data(), vp, offsets.data(), len, H, G, ob);
      else if (avx512) values_avx512<8>(p.data(), vp, offsets.data(), len, H, G, ob);
      else values_plain(p.data(), vp, offsets.data(), len, H, G, D, ob);
    }
  });
}

torch::Tensor paged_decode(torch::Tensor q, torch::Tensor kpool, torch::Tensor vpool, torch::Tensor blocks,
                           torch::Tensor lens, int64_t block_size, double scale) {
  TORCH_CHECK(q.is_contiguous() && q.scalar_type() == at::kFloat);
  check_cache(kpool, vpool, blocks, lens);
  auto out = torch::empty_like(q);
  decode_rows(q.data_ptr<float>(), q.size(0), q.size(1), q.size(2), kpool, vpool, blocks, lens, block_size, scale,
              out.data_ptr<float>());
  return out;
}

// The whole attention of a decode step after the qkv projection: NeoX RoPE on q and k (the two halves of each head
// are the rotated pairs), k and v stored at their slots, then paged_decode. qkv [B, (H + 2 KV) D] as the fused
// projection gives it; cos, sin [B, D/2]; slots [B]. Returns [B, H D].
torch::Tensor rope_store_decode(torch::Tensor qkv, torch::Tensor cos, torch::Tensor sin, torch::Tensor kpool,
                                torch::Tensor vpool, torch::Tensor slots, torch::Tensor blocks, torch::Tensor lens,
                                int64_t block_size, double scale, int64_t H) {
  check_cache(kpool, vpool, blocks, lens);
  const int64_t B = qkv.size(0), KV = kpool.size(1), D = kpool.size(2), half = D / 2;
  TORCH_CHECK(qkv.is_contiguous() && qkv.scalar_type() == at::kFloat && qkv.size(1) == (H + 2 * KV) * D,
              "rope_store_decode: qkv [B, (H + 2 KV) D] float32");
  TORCH_CHECK(cos.is_contiguous() && sin.is_contiguous() && cos.numel() == B * half && sin.numel() == B * half);
  TORCH_CHECK(slots.is_contiguous() && slots.scalar_type() == at::kLong && slots.numel() == B);
  TORCH_CHECK(D % 2 == 0, "rope_store_decode: head_dim must be even");
  for (int64_t b = 0; b < B; ++b)
    TORCH_CHECK(slots.data_ptr<int64_t>()[b] >= 0 && slots.data_ptr<int64_t>()[b] < kpool.size(0),
                "rope_store_decode: slot outside the pool");
  auto q = torch::empty({B, H, D}, qkv.options());
  const float* xp = qkv.data_ptr<float>();
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  const int64_t* slot = slots.data_ptr<int64_t>();
  float* qp = q.data_ptr<float>();
  float* kp = kpool.data_ptr<float>();
  float* vp = vpool.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    const float* row = xp + b * (H + 2 * KV) * D;
    const float* c = cp + b * half;
    const float* s = sp + b * half;
    for (int64_t j = 0; j < H + KV; ++j) {
      const float* x = row + j * D;
      float* y = j < H ? qp + (b * H + j) * D : kp + (slot[b] * KV + (j - H)) * D;
      #pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        y[i] = x[i] * c[i] - x[i + half] * s[i];
        y[i + half] = x[i + half] * c[i] + x[i] * s[i];
      }
    }
    std::copy(row + (H + KV) * D, row + (H + 2 * KV) * D, vp + slot[b] * KV * D);
  }
  auto out = torch::empty({B, H * D}, qkv.options());
  decode_rows(qp, B, H, D, kpool, vpool, blocks, lens, block_size, scale, out.data_ptr<float>());
  return out;
}
