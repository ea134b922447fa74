#include "text/rope.h"

#include <immintrin.h>

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "layers/kernel_threads.h"
#include "layers/kernel_util.h"
#include "slowfast.h"

// GCC 12's AVX512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its own
// -Wmaybe-uninitialized reports at every inlined call (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slowfast {
namespace {

// Positions per chunk of a parallel call (parallel_rows): a prompt's are split over the threads, a
// decode step's stay on the calling thread.
constexpr int64_t kPositionsPerChunk = 16;

#define SLOWFAST_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// a * b rounded to bfloat16, as a float32 again.
SLOWFAST_AVX512 inline __m512 rounded_product(__m512 a, __m512 b) {
  return widen_bf16(round_bf16(_mm512_mul_ps(a, b)));
}

// The rotation of one position's heads [heads, D] with its tables [D], bfloat16: each product
// rounded to bfloat16, then their sum, as libtorch's three ops round them. So the values are
// libtorch's exactly.
SLOWFAST_AVX512 void rotate_position(const uint16_t* x, const uint16_t* cos, const uint16_t* sin,
                                     int64_t heads, int64_t dim, uint16_t* out) {
  const int64_t half = dim / 2;
  for (int64_t j = 0; j < half; j += 16) {
    const __mmask16 mask = lane_mask(half - j);
    const __m512 cos_first = load_widened(mask, cos + j);
    const __m512 cos_second = load_widened(mask, cos + half + j);
    const __m512 sin_first = load_widened(mask, sin + j);
    const __m512 sin_second = load_widened(mask, sin + half + j);
    for (int64_t h = 0; h < heads; ++h) {
      const uint16_t* row = x + h * dim;
      const __m512 first = load_widened(mask, row + j);
      const __m512 second = load_widened(mask, row + half + j);
      // rotate_half(x) = (-second, first)
      const __m512 out_first =
          _mm512_add_ps(rounded_product(first, cos_first),
                        rounded_product(_mm512_sub_ps(_mm512_setzero_ps(), second), sin_first));
      const __m512 out_second =
          _mm512_add_ps(rounded_product(second, cos_second), rounded_product(first, sin_second));
      _mm256_mask_storeu_epi16(out + h * dim + j, mask, round_bf16(out_first));
      _mm256_mask_storeu_epi16(out + h * dim + half + j, mask, round_bf16(out_second));
    }
  }
}

bool fused_applies(const torch::Tensor& x, const RopeTables& tables) {
  const auto bf16 = torch::kBFloat16;
  return x.dim() == 3 && x.scalar_type() == bf16 && tables.cos.scalar_type() == bf16 &&
         tables.sin.scalar_type() == bf16 && x.is_cpu() && tables.cos.is_cpu() &&
         tables.sin.is_cpu() && x.is_contiguous() && tables.cos.is_contiguous() &&
         tables.sin.is_contiguous() && tables.cos.dim() == 2 &&
         tables.cos.sizes() == tables.sin.sizes() && tables.cos.size(0) == x.size(0) &&
         tables.cos.size(1) == x.size(2) && x.size(2) % 2 == 0 && !x.requires_grad() &&
         avx512_supported();
}

}  // namespace

torch::Tensor rope_inverse_frequencies(int64_t head_dim, double theta,
                                       const torch::Device& device) {
  if (head_dim <= 0 || head_dim % 2 != 0) {
    throw Error("rotary embedding: head dimension " + std::to_string(head_dim) +
                " must be positive and even");
  }
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const torch::Tensor exponents =
      torch::arange(0, head_dim, 2, f32) / static_cast<double>(head_dim);
  return torch::pow(theta, exponents).reciprocal();
}

RopeTables rope_tables(int64_t start, int64_t length, int64_t head_dim, double theta,
                       torch::ScalarType dtype, const torch::Device& device) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const torch::Tensor positions = torch::arange(start, start + length, f32);
  const torch::Tensor angles =
      torch::outer(positions, rope_inverse_frequencies(head_dim, theta, device));  // [L, D/2]
  const torch::Tensor both_halves = torch::cat({angles, angles}, -1);              // [L, D]
  return {both_halves.cos().to(dtype), both_halves.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& tables) {
  // bfloat16 on AVX512: one pass instead of libtorch's nine ops per call (two calls per layer).
  if (fused_applies(x, tables)) {
    torch::Tensor out = torch::empty_like(x);
    const int64_t heads = x.size(1), dim = x.size(2);
    const auto* in = reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>());
    const auto* cos = reinterpret_cast<const uint16_t*>(tables.cos.data_ptr<at::BFloat16>());
    const auto* sin = reinterpret_cast<const uint16_t*>(tables.sin.data_ptr<at::BFloat16>());
    auto* target = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
    parallel_rows(x.size(0), 0, x.size(0), kPositionsPerChunk, [&](int64_t begin, int64_t end) {
      for (int64_t position = begin; position < end; ++position) {
        rotate_position(in + position * heads * dim, cos + position * dim, sin + position * dim,
                        heads, dim, target + position * heads * dim);
      }
    });
    return out;
  }
  const int64_t half = x.size(-1) / 2;
  const torch::Tensor rotated_half =
      torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  const torch::Tensor cos = tables.cos.unsqueeze(1);  // [L, 1, D] broadcast over heads
  const torch::Tensor sin = tables.sin.unsqueeze(1);
  return x * cos + rotated_half * sin;
}

}  // namespace slowfast
