// The rest of a dense decode layer's work between its GEMMs on CPU, fused: residual add + RMSNorm, SiLU * up.
//
// Through torch, a decode layer's norms, residual adds, RoPE, cache write and activation were ~25 small ops, ~6 ms
// of a 35 ms step at batch 16 for the demo model. With these two and `rope_store_decode` (paged_attention.cpp) they
// are three calls a layer. Float32 only; built with the other CPU kernels (kernels/cpu/build.py).
#include <torch/extension.h>
#include <cmath>

// x += delta (when given), then RMSNorm(x) * weight: the residual add and the norm that follows it, one pass.
// x [M, C] float32, updated in place; returns the normed rows.
torch::Tensor add_rms_norm_(torch::Tensor x, c10::optional<torch::Tensor> delta, torch::Tensor weight, double eps) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && x.scalar_type() == at::kFloat && weight.is_contiguous()
              && weight.scalar_type() == at::kFloat && weight.numel() == x.size(1), "add_rms_norm_: x [M, C] float32");
  const int64_t M = x.size(0), C = x.size(1);
  const float* dp = nullptr;
  if (delta.has_value()) {
    TORCH_CHECK(delta->is_contiguous() && delta->scalar_type() == at::kFloat && delta->numel() == x.numel());
    dp = delta->data_ptr<float>();
  }
  auto out = torch::empty_like(x);
  float* xp = x.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for (int64_t m = 0; m < M; ++m) {
    float* r = xp + m * C;
    if (dp) {
      #pragma omp simd
      for (int64_t c = 0; c < C; ++c) r[c] += dp[m * C + c];
    }
    float ss = 0.f;
    #pragma omp simd reduction(+:ss)
    for (int64_t c = 0; c < C; ++c) ss += r[c] * r[c];
    const float inv = 1.f / std::sqrt(ss / C + static_cast<float>(eps));
    #pragma omp simd
    for (int64_t c = 0; c < C; ++c) op[m * C + c] = wp[c] * (r[c] * inv);
  }
  return out;
}

// gate_up [M, 2 I] (gate then up) -> silu(gate) * up [M, I]
torch::Tensor silu_mul(torch::Tensor gate_up) {
  TORCH_CHECK(gate_up.dim() == 2 && gate_up.is_contiguous() && gate_up.scalar_type() == at::kFloat
              && gate_up.size(1) % 2 == 0, "silu_mul: gate_up [M, 2 I] float32");
  const int64_t M = gate_up.size(0), I = gate_up.size(1) / 2;
  auto out = torch::empty({M, I}, gate_up.options());
  const float* gp = gate_up.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for (int64_t m = 0; m < M; ++m) {
    const float* g = gp + m * 2 * I;
    #pragma omp simd
    for (int64_t i = 0; i < I; ++i) op[m * I + i] = g[i] / (1.f + std::exp(std::min(-g[i], 80.f))) * g[I + i];
  }
  return out;
}
