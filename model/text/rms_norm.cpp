#include "text/rms_norm.h"

#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include <torch/torch.h>

#include "layers/kernel_threads.h"
#include "layers/kernel_util.h"

// GCC 12's AVX512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its own
// -Wmaybe-uninitialized (and, inlined into sum_lanes() here, -Wuninitialized) reports at every
// inlined call (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace slowfast {
namespace {

// Rows per chunk of a parallel call (parallel_rows): a prompt's rows are split over the threads, a
// decode step's (a few rows of about 1 us each) stay on the calling thread.
constexpr int64_t kRowsPerChunk = 32;

// One row: the same steps as the libtorch ops below, in one pass per step over the row (the
// squares summed 16 lanes at a time, then across the lanes: libtorch sums in another order, so a
// value can differ from its result by one bfloat16 step where the float32 product lies on a
// rounding boundary). bfloat16 in, bfloat16 out.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void normalise_row(const uint16_t* x,
                                                                        const uint16_t* weight,
                                                                        int64_t dim, float eps,
                                                                        uint16_t* out) {
  __m512 squares = _mm512_setzero_ps();
  for (int64_t j = 0; j < dim; j += 16) {
    const __mmask16 mask = lane_mask(dim - j);
    const __m512 v = load_widened(mask, x + j);
    squares = _mm512_add_ps(squares, _mm512_mul_ps(v, v));
  }
  const float variance = sum_lanes(squares) / static_cast<float>(dim);
  const __m512 inverse_rms = _mm512_set1_ps(1.0f / std::sqrt(variance + eps));
  for (int64_t j = 0; j < dim; j += 16) {
    const __mmask16 mask = lane_mask(dim - j);
    const __m512 v = load_widened(mask, x + j);
    // Rounded to bfloat16 before the scale, as the original casts back before multiplying.
    const __m512 normalised = widen_bf16(round_bf16(_mm512_mul_ps(v, inverse_rms)));
    const __m512 scale = load_widened(mask, weight + j);
    _mm256_mask_storeu_epi16(out + j, mask, round_bf16(_mm512_mul_ps(scale, normalised)));
  }
}

bool fused_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  return x.scalar_type() == torch::kBFloat16 && weight.scalar_type() == torch::kBFloat16 &&
         x.is_cpu() && weight.is_cpu() && x.is_contiguous() && weight.is_contiguous() &&
         weight.numel() > 0 && x.dim() >= 1 && x.size(-1) == weight.numel() &&
         !torch::GradMode::is_enabled() && avx512_supported();
}

}  // namespace

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}, options), /*requires_grad=*/false);
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // bfloat16 on AVX512: one kernel instead of eight libtorch ops and their temporaries (about
  // 20 us a norm at one row, 49 norms a decode step).
  if (fused_applies(x, weight)) {
    torch::Tensor out = torch::empty_like(x);
    const int64_t dim = weight.numel();
    const auto* in = reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>());
    const auto* scale = reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>());
    auto* target = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
    const auto eps = static_cast<float>(eps_);
    parallel_rows(x.numel() / dim, 0, x.numel() / dim, kRowsPerChunk,
                  [&](int64_t begin, int64_t end) {
                    for (int64_t row = begin; row < end; ++row) {
                      normalise_row(in + row * dim, scale, dim, eps, target + row * dim);
                    }
                  });
    return out;
  }
  const torch::Tensor x32 = x.to(torch::kFloat32);
  const torch::Tensor inv_rms = torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  // The original multiplies after the cast back, so bf16 rounding happens before the scale.
  return weight * (x32 * inv_rms).to(x.scalar_type());
}

}  // namespace slowfast
