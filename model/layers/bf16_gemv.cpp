#include "layers/bf16_gemv.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "slowfast.h"

// GCC 12's AVX512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its own
// -Wmaybe-uninitialized reports at every inlined call (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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

// Sum of the 16 lanes in a fixed tree (halves, then quarters, ...): 7 instructions where a loop
// over the lanes in memory takes 33, which at several x rows cost as much as the products.
__attribute__((target("avx512f"))) inline float sum_lanes(__m512 v) {
  const __m256 low = _mm512_castps512_ps256(v);
  const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 eight = _mm256_add_ps(low, high);
  __m128 four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps(eight, 1));
  four = _mm_add_ps(four, _mm_movehl_ps(four, four));
  four = _mm_add_ss(four, _mm_movehdup_ps(four));
  return _mm_cvtss_f32(four);
}

// out[b * n + r] = dot(weight row r, x row b) for weight rows [begin, end) and the `Rows` rows of
// x (`k` apart); weight rows are `k` apart. One weight row at a time, so the weights stream
// through memory in order (several weight rows at once measured slower: 8 vs 14 GB/s on this
// machine), and each is read once for all x rows. Two accumulators per x row hide the
// dot-product latency. Every x row is summed in the same order whatever `Rows` is, so a row's
// result does not depend on the rows computed with it.
template <int Rows>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void dot_rows(const uint16_t* weight,
                                                                     const uint16_t* x, int64_t k,
                                                                     int64_t n, int64_t begin,
                                                                     int64_t end, float* out) {
  const int64_t full = k / kLanes * kLanes;
  for (int64_t row = begin; row < end; ++row) {
    const uint16_t* w = weight + row * k;
    __m512 even[Rows], odd[Rows];
    for (int b = 0; b < Rows; ++b) even[b] = odd[b] = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 2 * kLanes <= full; j += 2 * kLanes) {
      const __m512bh w_even = load_bf16(w + j), w_odd = load_bf16(w + j + kLanes);
      for (int b = 0; b < Rows; ++b) {
        even[b] = _mm512_dpbf16_ps(even[b], w_even, load_bf16(x + b * k + j));
        odd[b] = _mm512_dpbf16_ps(odd[b], w_odd, load_bf16(x + b * k + j + kLanes));
      }
    }
    if (j < full) {
      const __m512bh w_even = load_bf16(w + j);
      for (int b = 0; b < Rows; ++b) {
        even[b] = _mm512_dpbf16_ps(even[b], w_even, load_bf16(x + b * k + j));
      }
    }
    if (full < k) {
      const __m512bh w_tail = load_bf16_head(w + full, k - full);
      for (int b = 0; b < Rows; ++b) {
        odd[b] = _mm512_dpbf16_ps(odd[b], w_tail, load_bf16_head(x + b * k + full, k - full));
      }
    }
    for (int b = 0; b < Rows; ++b) out[b * n + row] = sum_lanes(_mm512_add_ps(even[b], odd[b]));
  }
}

// x rows in groups of at most 8 (16 accumulators and 2 weight registers stay in registers) when
// a group's rows fit in half of L1 (K <= 1024), else 4, over blocks of weight rows small enough
// (kRowsPerBlock rows of a few KB) to stay in L1/L2 from one group to the next: memory delivers
// each weight once for all x rows.
void dot_rows_grouped(const uint16_t* weight, const uint16_t* x, int64_t rows, int64_t k, int64_t n,
                      int64_t begin, int64_t end, float* out) {
  constexpr int64_t kRowsPerBlock = 16;
  const int64_t group_rows = k <= 1024 ? 8 : 4;
  for (int64_t block = begin; block < end; block += kRowsPerBlock) {
    const int64_t block_end = std::min(end, block + kRowsPerBlock);
    for (int64_t first = 0; first < rows; first += group_rows) {
      const uint16_t* group = x + first * k;
      float* group_out = out + first * n;
      switch (std::min(group_rows, rows - first)) {
        case 1:
          dot_rows<1>(weight, group, k, n, block, block_end, group_out);
          break;
        case 2:
          dot_rows<2>(weight, group, k, n, block, block_end, group_out);
          break;
        case 3:
          dot_rows<3>(weight, group, k, n, block, block_end, group_out);
          break;
        case 4:
          dot_rows<4>(weight, group, k, n, block, block_end, group_out);
          break;
        case 5:
          dot_rows<5>(weight, group, k, n, block, block_end, group_out);
          break;
        case 6:
          dot_rows<6>(weight, group, k, n, block, block_end, group_out);
          break;
        case 7:
          dot_rows<7>(weight, group, k, n, block, block_end, group_out);
          break;
        default:
          dot_rows<8>(weight, group, k, n, block, block_end, group_out);
          break;
      }
    }
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
  const bool rows_ok =
      x.dim() == 1 || (x.dim() == 2 && x.size(0) >= 1 && x.size(0) <= kBf16GemvMaxRows);
  return weight.dim() == 2 && rows_ok && x.size(-1) == weight.size(1) &&
         x.scalar_type() == torch::kBFloat16 && weight.scalar_type() == torch::kBFloat16 &&
         x.is_cpu() && weight.is_cpu() && weight.is_contiguous() && bf16_gemv_supported();
}

torch::Tensor bf16_gemv(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias) {
  if (!bf16_gemv_applies(x, weight)) {
    throw Error(
        "bf16_gemv: needs bfloat16 CPU tensors x [K] or [R <= 64, K] and contiguous weight [N, K] "
        "on a "
        "CPU with AVX512-BF16; got x " +
        c10::str(x.sizes()) + " " + c10::toString(x.scalar_type()) + ", weight " +
        c10::str(weight.sizes()) + " " + c10::toString(weight.scalar_type()));
  }
  const int64_t n = weight.size(0);
  const int64_t k = weight.size(1);
  const int64_t x_rows = x.dim() == 1 ? 1 : x.size(0);
  const torch::Tensor rows = x.reshape({x_rows, k}).contiguous();
  torch::Tensor out = torch::empty({x_rows, n}, x.options().dtype(torch::kFloat32));
  const auto* weight_data = reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>());
  const auto* x_data = reinterpret_cast<const uint16_t*>(rows.data_ptr<at::BFloat16>());
  float* out_data = out.data_ptr<float>();
  at::parallel_for(0, n, kRowsPerTask, [&](int64_t begin, int64_t end) {
    dot_rows_grouped(weight_data, x_data, x_rows, k, n, begin, end, out_data);
  });
  if (bias.defined()) out.add_(bias.to(torch::kFloat32));
  return x.dim() == 1 ? out.view({n}) : out;
}

}  // namespace slowfast
