// What the AVX512 kernels of layers/ (bf16_gemv, bf16_gemm) share: turning a run-time count into
// a template argument, and the flush-to-zero mode that makes float32 FMAs round like vdpbf16ps.
#pragma once

#include <xmmintrin.h>

#include <cstdint>
#include <type_traits>

namespace slowfast {

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

}  // namespace slowfast
