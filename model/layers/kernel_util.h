// What the AVX512 kernels (layers/bf16_gemv, layers/bf16_gemm, layers/bf16_silu,
// text/decode_attention, text/rms_norm, text/rope) share: whether the CPU has AVX512, turning a
// run-time count into a template argument, the flush-to-zero mode that makes float32 FMAs round
// like vdpbf16ps, masked loads of bfloat16 widened to float32 and rounding back, and the sum of a
// register's lanes.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

namespace slowfast {

// True when the CPU executes AVX512 F, BW and VL, which these kernels are written for. Checked
// once.
inline bool avx512_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return supported;
}

// Calls run(std::integral_constant<int, c>()) with c = count clamped to [1, Max]: a kernel's
// row or vector count is a template argument, so its accumulators stay in registers.
template <int Max, typename Run>
void with_count(int64_t count, const Run& run) {
  if constexpr (Max > 1) {
    if (count < Max) return with_count<Max - 1>(count, run);
  }
  run(std::integral_constant<int, Max>());
}

// vdpbf16ps flushes denormal inputs and results to zero; the FMA kernels do so through MXCSR
// (flush-to-zero and denormals-are-zero) for the object's lifetime, on the calling thread.
class FlushDenormals {
 public:
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_;
};

// bfloat16 -> float32 is a shift into the high half.
__attribute__((target("avx512f"))) inline __m512 widen_bf16(__m256i values) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(values), 16));
}

// The first min(count, 16) lanes of a register.
inline __mmask16 lane_mask(int64_t count) {
  return static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1);
}

// The `mask` lanes of the bfloat16 values at `source`, widened to float32; zeros elsewhere.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 load_widened(
    __mmask16 mask, const void* source) {
  return widen_bf16(_mm256_maskz_loadu_epi16(mask, source));
}

// float32 -> bfloat16, to nearest even, NaN as 0x7fc0: what at::BFloat16(float) does.
__attribute__((target("avx512f"))) inline __m256i round_bf16(__m512 values) {
  const __m512i bits = _mm512_castps_si512(values);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(values, values, _CMP_UNORD_Q);
  rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7fc0));
  return _mm512_cvtepi32_epi16(rounded);
}

// The 16 lanes summed in a fixed tree (halves, then quarters, ...): 7 instructions where a loop
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

}  // namespace slowfast
