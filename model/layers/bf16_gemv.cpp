#include "layers/bf16_gemv.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "layers/kernel_threads.h"
#include "layers/kernel_util.h"
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
// Weight rows per parallel loop: lm_head (151,936 rows, 10-15 ms) runs as several loops of about
// 1 ms, each passing the thread's loop gate (kernel_threads.h), so a frame to encode waits for
// at most one of them.
constexpr int64_t kRowsPerLoop = 16384;
// How far ahead of the products the weights are requested (prefetch_ahead): 4 KB measured best
// of 1-16 KB (gate/up at 8 rows 0.68 -> 0.44 ms, lm_head at 1 row 12.5 -> 10.5 ms).
constexpr int64_t kPrefetchBytes = 4096;
// Where K is sliced, how many row-slices ahead the weights are requested: one row-slice is read
// in about 100 ns, less than a miss takes under load (down at 8 rows: 1 row ahead 0.55 ms,
// 2 rows 0.49 ms).
constexpr int64_t kSliceRowsAhead = 2;

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

// The weights stream in order, rows after rows: the two cache lines kPrefetchBytes ahead are
// requested now, so that misses stay in flight while several x rows' products keep the core busy
// (the hardware prefetcher alone lets a core's bandwidth fall with the work per line). Into L2,
// not L1, which keeps the x rows: gate/up at 1 row 0.38 -> 0.31 ms, down at 8 rows 0.63 -> 0.58.
inline void prefetch_lines(const uint16_t* w) {
  const char* line = reinterpret_cast<const char*>(w);
  _mm_prefetch(line, _MM_HINT_T1);
  _mm_prefetch(line + 64, _MM_HINT_T1);
}

inline void prefetch_ahead(const uint16_t* w) {
  prefetch_lines(w + kPrefetchBytes / int64_t{sizeof(uint16_t)});
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
      prefetch_ahead(w + j);
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

// The same products as one vdpbf16ps, as two float32 FMAs: vdpbf16ps adds a pair's odd product,
// then its even one, each rounded once (to nearest even, denormals in and out flushed to zero,
// which the caller's MXCSR sets), so these sums are bit-identical to dot_rows'. Where vdpbf16ps
// issues at a quarter of the FMA rate (the development Xeon, family 6 model 207:
// 1.3 against 5.5 G/s per core), a weight
// vector's 2 x Rows FMAs plus its 2 widening instructions take about half the cycles, which is
// what decides the step once several rows share each weight. x_split holds each row in float32,
// every 32-value chunk as its 16 even then its 16 odd values (zeros past k), `stride` floats
// apart.
#define SLOWFAST_FMA_TARGET __attribute__((target("avx512f,avx512bw")))

SLOWFAST_FMA_TARGET inline void widen_pairs(__m512i pairs, __m512& even, __m512& odd) {
  even = _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
  odd = _mm512_castsi512_ps(_mm512_and_si512(pairs, _mm512_set1_epi32(int32_t(0xffff0000u))));
}

SLOWFAST_FMA_TARGET inline __m512 fma_pairs(__m512 acc, __m512 w_even, __m512 w_odd,
                                            const float* x_chunk) {
  acc = _mm512_fmadd_ps(w_odd, _mm512_loadu_ps(x_chunk + 16), acc);
  return _mm512_fmadd_ps(w_even, _mm512_loadu_ps(x_chunk), acc);
}

// One slice [first, last) of K for weight rows [begin, end): `last` is a multiple of 64 short of
// the row's end, or k. Between slices a weight row's accumulators wait in `partial` (2 x Rows
// registers per weight row), so every sum takes its chunks in the same registers and order as
// without slices, and a slice of 8 float32 x rows stays in L1 however long K is.
template <int Rows>
SLOWFAST_FMA_TARGET void fma_rows(const uint16_t* weight, const float* x_split, int64_t stride,
                                  int64_t k, int64_t n, int64_t begin, int64_t end, int64_t first,
                                  int64_t last, __m512* partial, float* out) {
  const int64_t full = k / kLanes * kLanes;
  const int64_t pairs_end = last == k ? full : last;
  const bool whole_rows = first == 0 && last == k;
  for (int64_t row = begin; row < end; ++row) {
    const uint16_t* w = weight + row * k;
    // Sliced, the weights are read a slice of each row at a time, so what is wanted next is not
    // kPrefetchBytes on but the slice kSliceRowsAhead rows down: past the block's end, the next
    // slice's first rows (after the last slice, the next block's). ahead + j is that position.
    const uint16_t* ahead = w + kPrefetchBytes / int64_t{sizeof(uint16_t)};
    if (!whole_rows) {
      int64_t target = row + kSliceRowsAhead;
      int64_t column = target < end ? first : 0;
      if (target >= end && last != k) {
        target -= end - begin;
        column = last;
      }
      ahead = weight + target * k + column - first;
    }
    __m512* saved = partial + (row - begin) * 2 * Rows;
    __m512 even[Rows], odd[Rows];
    for (int b = 0; b < Rows; ++b) {
      even[b] = first == 0 ? _mm512_setzero_ps() : saved[2 * b];
      odd[b] = first == 0 ? _mm512_setzero_ps() : saved[2 * b + 1];
    }
    __m512 we0, wo0, we1, wo1;
    int64_t j = first;
    for (; j + 2 * kLanes <= pairs_end; j += 2 * kLanes) {
      prefetch_lines(ahead + j);
      widen_pairs(_mm512_loadu_si512(w + j), we0, wo0);
      widen_pairs(_mm512_loadu_si512(w + j + kLanes), we1, wo1);
      for (int b = 0; b < Rows; ++b) {
        even[b] = fma_pairs(even[b], we0, wo0, x_split + b * stride + j);
        odd[b] = fma_pairs(odd[b], we1, wo1, x_split + b * stride + j + kLanes);
      }
    }
    if (last != k) {
      for (int b = 0; b < Rows; ++b) {
        saved[2 * b] = even[b];
        saved[2 * b + 1] = odd[b];
      }
      continue;
    }
    if (j < full) {
      widen_pairs(_mm512_loadu_si512(w + j), we0, wo0);
      for (int b = 0; b < Rows; ++b) {
        even[b] = fma_pairs(even[b], we0, wo0, x_split + b * stride + j);
      }
    }
    if (full < k) {
      const auto mask = static_cast<__mmask32>((uint64_t{1} << (k - full)) - 1);
      widen_pairs(_mm512_maskz_loadu_epi16(mask, w + full), we0, wo0);
      for (int b = 0; b < Rows; ++b) {
        odd[b] = fma_pairs(odd[b], we0, wo0, x_split + b * stride + full);
      }
    }
    for (int b = 0; b < Rows; ++b) out[b * n + row] = sum_lanes(_mm512_add_ps(even[b], odd[b]));
  }
}

// x rows [R, K] bfloat16 -> [R, stride] float32 in fma_rows' chunk order, widened by the same
// instructions as the weights.
SLOWFAST_FMA_TARGET torch::Tensor split_pairs(const uint16_t* x, int64_t rows, int64_t k) {
  const int64_t stride = (k + kLanes - 1) / kLanes * kLanes;
  torch::Tensor split = torch::empty({rows, stride}, torch::kFloat32);
  float* target = split.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < k; j += kLanes) {
      const int64_t count = std::min(kLanes, k - j);
      const auto mask = static_cast<__mmask32>((uint64_t{1} << count) - 1);
      __m512 even, odd;
      widen_pairs(_mm512_maskz_loadu_epi16(mask, x + r * k + j), even, odd);
      _mm512_storeu_ps(target + r * stride + j, even);
      _mm512_storeu_ps(target + r * stride + j + kLanes / 2, odd);
    }
  }
  return split;
}

// x rows in groups of at most 8 (16 accumulators and 2 weight registers stay in registers) when
// a group's rows fit in half of L1 (K <= 1024), else 4, over blocks of weight rows small enough
// (kRowsPerBlock rows of a few KB) to stay in L1/L2 from one group to the next: memory delivers
// each weight once for all x rows.
void dot_grouped(const uint16_t* weight, const uint16_t* x, int64_t rows, int64_t k, int64_t n,
                 int64_t begin, int64_t end, float* out) {
  constexpr int64_t kRowsPerBlock = 16;
  const int64_t group_rows = k <= 1024 ? 8 : 4;
  for (int64_t block = begin; block < end; block += kRowsPerBlock) {
    const int64_t block_end = std::min(end, block + kRowsPerBlock);
    for (int64_t first = 0; first < rows; first += group_rows) {
      const auto run = [&](auto count) {
        dot_rows<decltype(count)::value>(weight, x + first * k, k, n, block, block_end,
                                         out + first * n);
      };
      with_count<8>(std::min(group_rows, rows - first), run);
    }
  }
}

// Weight rows in blocks of kRowsPerBlock, x rows in groups of 8, K in slices (multiples of 64):
// a slice of the group's float32 x rows stays in L1 while the block's weights stream past it;
// the next group finds the block's weights in L2.
SLOWFAST_FMA_TARGET void fma_grouped(const uint16_t* weight, const float* x_split, int64_t stride,
                                     int64_t rows, int64_t k, int64_t n, int64_t begin, int64_t end,
                                     float* out) {
  constexpr int64_t kRowsPerBlock = 16;
  constexpr int64_t kGroupRows = 8;
  // A slice of the group's float32 x rows fills at most 16 KB of L1 (512 values at 8 rows,
  // 4096 at 1 row, where short rows then need no slices at all): beside it, the block's saved
  // accumulators (16 KB at 8 rows) and the weights passing through. 32 KB left too little of
  // the 48 KB L1 (down at 8 rows: 0.72 ms, against 0.55 ms at 16 KB).
  constexpr int64_t kSliceBytes = 16 * 1024;
  __m512 partial[kRowsPerBlock * 2 * kGroupRows];
  for (int64_t block = begin; block < end; block += kRowsPerBlock) {
    const int64_t block_end = std::min(end, block + kRowsPerBlock);
    for (int64_t group = 0; group < rows; group += kGroupRows) {
      const float* x = x_split + group * stride;
      float* group_out = out + group * n;
      const int64_t group_rows = std::min(kGroupRows, rows - group);
      const int64_t slice =
          std::max<int64_t>(2 * kLanes, kSliceBytes / int64_t{sizeof(float)} / group_rows /
                                            (2 * kLanes) * 2 * kLanes);
      for (int64_t first = 0; first < k; first += slice) {
        // The last slice takes whatever is left, so no slice ends in the row's last 64 values.
        const int64_t last = k - first <= 2 * slice - 2 * kLanes ? k : first + slice;
        const auto run = [&](auto count) {
          fma_rows<decltype(count)::value>(weight, x, stride, k, n, block, block_end, first, last,
                                           partial, group_out);
        };
        with_count<8>(group_rows, run);
        if (last == k) break;
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

Bf16GemvPath bf16_gemv_default_path() {
  static const Bf16GemvPath path = [] {
    if (const char* forced = std::getenv("SLOWFAST_BF16_GEMV")) {
      const std::string name = forced;
      if (name == "fma") return Bf16GemvPath::kFma;
      if (name == "dpbf16") return Bf16GemvPath::kDotProduct;
      throw Error("SLOWFAST_BF16_GEMV: '" + name + "' is neither 'fma' nor 'dpbf16'");
    }
    // Intel's Xeon measured vdpbf16ps at a quarter of its FMA rate; on the AMD EPYC it issued
    // about one per cycle (docs/performance.md), where the widening would only add work.
    __builtin_cpu_init();
    return __builtin_cpu_is("intel") ? Bf16GemvPath::kFma : Bf16GemvPath::kDotProduct;
  }();
  return path;
}

bool bf16_gemv_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  const bool rows_ok =
      x.dim() == 1 || (x.dim() == 2 && x.size(0) >= 1 && x.size(0) <= kBf16GemvMaxRows);
  return weight.dim() == 2 && rows_ok && x.size(-1) == weight.size(1) &&
         x.scalar_type() == torch::kBFloat16 && weight.scalar_type() == torch::kBFloat16 &&
         x.is_cpu() && weight.is_cpu() && weight.is_contiguous() && bf16_gemv_supported();
}

namespace {

void check_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  if (!bf16_gemv_applies(x, weight)) {
    throw Error(
        "bf16_gemv: needs bfloat16 CPU tensors x [K] or [R <= 64, K] and contiguous weight [N, K] "
        "on a CPU with AVX512-BF16; got x " +
        c10::str(x.sizes()) + " " + c10::toString(x.scalar_type()) + ", weight " +
        c10::str(weight.sizes()) + " " + c10::toString(weight.scalar_type()));
  }
}

// The products of x [R, K] (contiguous) with every weight row into sums [R, N] float32, then
// finish(begin, end) on the same thread for weight rows [begin, end) while their sums are in
// cache: the bias and the rounding cost no further pass over memory or libtorch call.
template <typename Finish>
void gemv_rows(const torch::Tensor& rows, const torch::Tensor& weight, Bf16GemvPath path,
               float* sums, const Finish& finish) {
  const int64_t n = weight.size(0);
  const int64_t k = weight.size(1);
  const int64_t x_rows = rows.size(0);
  const auto* weight_data = reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>());
  const auto* x_data = reinterpret_cast<const uint16_t*>(rows.data_ptr<at::BFloat16>());
  if (path == Bf16GemvPath::kFma) {
    const torch::Tensor split = split_pairs(x_data, x_rows, k);
    const float* split_data = split.data_ptr<float>();
    const int64_t stride = split.size(1);
    for (int64_t first = 0; first < n; first += kRowsPerLoop) {
      parallel_chunks(
          first, std::min(n, first + kRowsPerLoop), kRowsPerTask, [&](int64_t begin, int64_t end) {
            {
              FlushDenormals flush;
              fma_grouped(weight_data, split_data, stride, x_rows, k, n, begin, end, sums);
            }
            finish(begin, end);
          });
    }
  } else {
    for (int64_t first = 0; first < n; first += kRowsPerLoop) {
      parallel_chunks(first, std::min(n, first + kRowsPerLoop), kRowsPerTask,
                      [&](int64_t begin, int64_t end) {
                        dot_grouped(weight_data, x_data, x_rows, k, n, begin, end, sums);
                        finish(begin, end);
                      });
    }
  }
}

}  // namespace

torch::Tensor bf16_gemv(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias) {
  return bf16_gemv(x, weight, bias, bf16_gemv_default_path());
}

torch::Tensor bf16_gemv(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, Bf16GemvPath path) {
  check_applies(x, weight);
  const int64_t n = weight.size(0);
  const int64_t x_rows = x.dim() == 1 ? 1 : x.size(0);
  const torch::Tensor rows = x.reshape({x_rows, weight.size(1)}).contiguous();
  torch::Tensor out = torch::empty({x_rows, n}, x.options().dtype(torch::kFloat32));
  float* sums = out.data_ptr<float>();
  const torch::Tensor bias32 = bias.defined() ? bias.to(torch::kFloat32).contiguous() : bias;
  const float* bias_data = bias32.defined() ? bias32.data_ptr<float>() : nullptr;
  gemv_rows(rows, weight, path, sums, [&](int64_t begin, int64_t end) {
    if (!bias_data) return;
    for (int64_t r = 0; r < x_rows; ++r) {
      for (int64_t i = begin; i < end; ++i) sums[r * n + i] += bias_data[i];
    }
  });
  return x.dim() == 1 ? out.view({n}) : out;
}

torch::Tensor bf16_linear(const torch::Tensor& x, const torch::Tensor& weight,
                          const torch::Tensor& bias) {
  check_applies(x, weight);
  const int64_t n = weight.size(0);
  const int64_t x_rows = x.dim() == 1 ? 1 : x.size(0);
  const torch::Tensor rows = x.reshape({x_rows, weight.size(1)}).contiguous();
  torch::Tensor sums = torch::empty({x_rows, n}, x.options().dtype(torch::kFloat32));
  torch::Tensor out = torch::empty({x_rows, n}, x.options());
  float* sum_data = sums.data_ptr<float>();
  at::BFloat16* out_data = out.data_ptr<at::BFloat16>();
  const torch::Tensor bias_rows = bias.defined() ? bias.contiguous() : bias;
  const at::BFloat16* bias_data =
      bias_rows.defined() ? bias_rows.data_ptr<at::BFloat16>() : nullptr;
  gemv_rows(rows, weight, bf16_gemv_default_path(), sum_data, [&](int64_t begin, int64_t end) {
    for (int64_t r = 0; r < x_rows; ++r) {
      for (int64_t i = begin; i < end; ++i) {
        // One float32 addition, then round to nearest even: what out.add_(bias).to(bf16) does.
        const float sum = sum_data[r * n + i];
        out_data[r * n + i] =
            at::BFloat16(bias_data ? sum + static_cast<float>(bias_data[i]) : sum);
      }
    }
  });
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = n;
  return out.view(shape);
}

}  // namespace slowfast
