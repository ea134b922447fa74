#include "layers/bf16_gemv.h"

#include <immintrin.h>

#include <cstdint>
#include <string>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {
namespace {

// bfloat16 values per 512-bit register.
constexpr int64_t kLanes = 32;
// Rows per thread task: large enough to amortise scheduling, small enough to balance.
constexpr int64_t kRowsPerTask = 64;

__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline __m512bh load_bf16(
    const uint16_t* source) {
  return reinterpret_cast<__m512bh>(_mm512_loadu_si512(source));
}

// The first `count` (< 32) values, zeros after them.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline __m512bh load_bf16_head(
    const uint16_t* source, int64_t count) {
  const auto mask = static_cast<__mmask32>((uint64_t{1} << count) - 1);
  return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, source));
}

// Sum of the 16 lanes (through memory: GCC 12's _mm512_reduce_add_ps trips -Wmaybe-uninitialized).
__attribute__((target("avx512f"))) inline float sum_lanes(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float sum = 0.0f;
  for (const float lane : lanes) sum += lane;
  return sum;
}

// out[r] = dot(weight row r, x) for rows [begin, end); weight rows are `k` apart. One row at a
// time, so the weights stream through memory in order (several rows at once measured slower:
// 8 vs 14 GB/s on this machine); two accumulators hide the dot-product latency.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void dot_rows(const uint16_t* weight,
                                                                     const uint16_t* x, int64_t k,
                                                                     int64_t begin, int64_t end,
                                                                     float* out) {
  const int64_t full = k / kLanes * kLanes;
  for (int64_t row = begin; row < end; ++row) {
    const uint16_t* w = weight + row * k;
    __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 2 * kLanes <= full; j += 2 * kLanes) {
      even = _mm512_dpbf16_ps(even, load_bf16(w + j), load_bf16(x + j));
      odd = _mm512_dpbf16_ps(odd, load_bf16(w + j + kLanes), load_bf16(x + j + kLanes));
    }
    if (j < full) even = _mm512_dpbf16_ps(even, load_bf16(w + j), load_bf16(x + j));
    if (full < k) {
      odd = _mm512_dpbf16_ps(odd, load_bf16_head(w + full, k - full),
                             load_bf16_head(x + full, k - full));
    }
    out[row] = sum_lanes(_mm512_add_ps(even, odd));
  }
}

}  // namespace

bool bf16_gemv_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return supported;
}

bool bf16_gemv_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  return weight.dim() == 2 && x.numel() == weight.size(1) && (x.dim() == 1 || x.size(0) == 1) &&
         x.scalar_type() == torch::kBFloat16 && weight.scalar_type() == torch::kBFloat16 &&
         x.is_cpu() && weight.is_cpu() && weight.is_contiguous() && bf16_gemv_supported();
}

torch::Tensor bf16_gemv(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias) {
  if (!bf16_gemv_applies(x, weight)) {
    throw Error(
        "bf16_gemv: needs bfloat16 CPU tensors x [K] and contiguous weight [N, K] on a "
        "CPU with AVX512-BF16; got x " +
        c10::str(x.sizes()) + " " + c10::toString(x.scalar_type()) + ", weight " +
        c10::str(weight.sizes()) + " " + c10::toString(weight.scalar_type()));
  }
  const int64_t rows = weight.size(0);
  const int64_t k = weight.size(1);
  const torch::Tensor vector = x.reshape({k}).contiguous();
  torch::Tensor out = torch::empty({rows}, x.options().dtype(torch::kFloat32));
  const auto* weight_data = reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>());
  const auto* x_data = reinterpret_cast<const uint16_t*>(vector.data_ptr<at::BFloat16>());
  float* out_data = out.data_ptr<float>();
  at::parallel_for(0, rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    dot_rows(weight_data, x_data, k, begin, end, out_data);
  });
  if (bias.defined()) out.add_(bias.to(torch::kFloat32));
  return out;
}

}  // namespace slowfast
