#include "layers/bf16_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "layers/bf16_gemv.h"
#include "layers/kernel_util.h"
#include "slowfast.h"

// GCC 12's AVX512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its own
// -Wmaybe-uninitialized reports at every inlined call (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define SLOWFAST_GEMM_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace slowfast {
namespace {

// A tile is kTileRows weight rows by up to kPanelWidth x rows: 8 x 3 accumulators, 3 x vectors
// and a broadcast weight fill 28 of the 32 registers, and each x vector loaded feeds 8 FMAs.
constexpr int kTileRows = 8;
constexpr int kPanelVectors = 3;
constexpr int64_t kPanelWidth = 16 * kPanelVectors;
// x rows are taken kBlockRows at a time (4 panels: a prefill's prompt of 171 rows is one block),
// and K in slices whose float32 x panels (at most kSliceBytes) stay in a core's 2 MB L2 while
// every weight-row block of the slice passes over them. A longer prompt widens the weights once
// per block of rows, which costs little beside the block's products, instead of thinner slices
// whose sums go to memory and back more often (1,400 rows: 5 slices of 180 values for gate/up).
constexpr int64_t kBlockRows = 4 * kPanelWidth;
constexpr int64_t kSliceBytes = 1 << 20;

// Sixteen rows of 16 floats -> sixteen columns: out[c] holds rows[0..15][c].
SLOWFAST_GEMM_TARGET inline void transpose_16x16(const __m512 (&rows)[16], __m512 (&out)[16]) {
  __m512 pairs[16], quads[16];
  for (int i = 0; i < 8; ++i) {
    // Per 128-bit lane L: rows 2i, 2i+1 at columns 4L, 4L+1 (lo) and 4L+2, 4L+3 (hi).
    pairs[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
    pairs[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
  }
  for (int q = 0; q < 4; ++q) {
    // Per lane L: rows 4q..4q+3 at column 4L + o, for o = 0..3.
    const __m512d a = _mm512_castps_pd(pairs[4 * q]), b = _mm512_castps_pd(pairs[4 * q + 2]);
    const __m512d c = _mm512_castps_pd(pairs[4 * q + 1]), d = _mm512_castps_pd(pairs[4 * q + 3]);
    quads[4 * q + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    quads[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    quads[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    quads[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int o = 0; o < 4; ++o) {
    // Gather lane L of the four quads' vectors for offset o: column 4L + o.
    const __m512 even01 = _mm512_shuffle_f32x4(quads[o], quads[4 + o], 0x88);
    const __m512 odd01 = _mm512_shuffle_f32x4(quads[o], quads[4 + o], 0xdd);
    const __m512 even23 = _mm512_shuffle_f32x4(quads[8 + o], quads[12 + o], 0x88);
    const __m512 odd23 = _mm512_shuffle_f32x4(quads[8 + o], quads[12 + o], 0xdd);
    out[o] = _mm512_shuffle_f32x4(even01, even23, 0x88);
    out[8 + o] = _mm512_shuffle_f32x4(even01, even23, 0xdd);
    out[4 + o] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
    out[12 + o] = _mm512_shuffle_f32x4(odd01, odd23, 0xdd);
  }
}

// x [M, K] bfloat16 -> float32 panels of kPanelWidth rows (the last one narrower, rows past M
// zero), each stored k-major ([K][width]), panel p starting at p * kPanelWidth * K: a tile reads
// its x rows as one sequential stream. This packs rows [first_row, first_row + 16), 16 values at
// a time, transposed in registers.
SLOWFAST_GEMM_TARGET void pack_x_rows(const uint16_t* x, int64_t m, int64_t k, int64_t padded_m,
                                      int64_t first_row, float* panels) {
  const int64_t panel_row = first_row / kPanelWidth * kPanelWidth;
  const int64_t width = std::min(kPanelWidth, padded_m - panel_row);
  float* target = panels + panel_row * k + (first_row - panel_row);
  for (int64_t j = 0; j < k; j += 16) {
    const int64_t count = std::min<int64_t>(16, k - j);
    const auto mask = static_cast<__mmask16>((1u << count) - 1);
    __m512 rows[16], columns[16];
    for (int r = 0; r < 16; ++r) {
      rows[r] = first_row + r < m
                    ? widen_bf16(_mm256_maskz_loadu_epi16(mask, x + (first_row + r) * k + j))
                    : _mm512_setzero_ps();
    }
    transpose_16x16(rows, columns);
    for (int64_t c = 0; c < count; ++c) _mm512_storeu_ps(target + (j + c) * width, columns[c]);
  }
}

void pack_x(const uint16_t* x, int64_t m, int64_t k, int64_t padded_m, float* panels) {
  at::parallel_for(0, padded_m / 16, 1, [&](int64_t begin, int64_t end) {
    for (int64_t group = begin; group < end; ++group) {
      pack_x_rows(x, m, k, padded_m, group * 16, panels);
    }
  });
}

// Weight rows [first_row, first_row + Rows), columns [first, first + count) -> float32 rows
// `count` apart.
template <int Rows>
SLOWFAST_GEMM_TARGET void widen_weight_rows(const uint16_t* weight, int64_t k, int64_t first_row,
                                            int64_t first, int64_t count, float* out) {
  for (int i = 0; i < Rows; ++i) {
    const uint16_t* source = weight + (first_row + i) * k + first;
    float* target = out + i * count;
    int64_t j = 0;
    for (; j + 16 <= count; j += 16) {
      _mm512_storeu_ps(
          target + j, widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(source + j))));
    }
    if (j < count) {
      const auto mask = static_cast<__mmask16>((1u << (count - j)) - 1);
      _mm512_mask_storeu_ps(target + j, mask,
                            widen_bf16(_mm256_maskz_loadu_epi16(mask, source + j)));
    }
  }
}

// Rows of 16 bfloat16 (one weight row's results for 16 x rows each) -> for each of the 16 x rows,
// its 8 weight rows' results side by side (the low 128 bits of out[l] for x row l, the high 128
// bits for x row l + 8).
SLOWFAST_GEMM_TARGET inline void transpose_8x16(const __m256i (&rows)[8], __m256i (&out)[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi16(rows[2 * i], rows[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi16(rows[2 * i], rows[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // weight rows 0-3, then 4-7
    const __m256i* pair = t + 4 * h;
    u[4 * h + 0] = _mm256_unpacklo_epi32(pair[0], pair[2]);
    u[4 * h + 1] = _mm256_unpackhi_epi32(pair[0], pair[2]);
    u[4 * h + 2] = _mm256_unpacklo_epi32(pair[1], pair[3]);
    u[4 * h + 3] = _mm256_unpackhi_epi32(pair[1], pair[3]);
  }
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = _mm256_unpacklo_epi64(u[i], u[4 + i]);
    out[2 * i + 1] = _mm256_unpackhi_epi64(u[i], u[4 + i]);
  }
}

struct Output {
  uint16_t* data;     // [M, N] bfloat16
  int64_t rows;       // M
  int64_t n;          // N
  const float* bias;  // [N] float32, or null
};

// The slice of weight rows that the next tiles widen, requested a cache line at a time while the
// current block's tiles run: they are bound by the FMAs, so memory is idle meanwhile, and the
// widening finds the weights in L2 instead of waiting on each miss.
class WeightPrefetch {
 public:
  WeightPrefetch() = default;
  // Rows [first_row, first_row + rows) of weight [*, k], columns [first, first + count).
  WeightPrefetch(const uint16_t* weight, int64_t k, int64_t first_row, int64_t rows, int64_t first,
                 int64_t count)
      : weight_(weight),
        k_(k),
        row_(first_row),
        end_row_(first_row + rows),
        first_(first),
        count_(count) {
    start_row();
  }
  // Requests the next line; nothing once the slice is all requested.
  void next() {
    if (row_ >= end_row_) return;
    _mm_prefetch(line_, _MM_HINT_T1);
    line_ += 64;
    if (line_ >= row_end_) {
      ++row_;
      start_row();
    }
  }

 private:
  void start_row() {
    if (row_ >= end_row_) return;
    const char* begin = reinterpret_cast<const char*>(weight_ + row_ * k_ + first_);
    line_ = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(begin) & ~uintptr_t{63});
    row_end_ = begin + count_ * int64_t{sizeof(uint16_t)};
  }

  const uint16_t* weight_ = nullptr;
  int64_t k_ = 0, row_ = 0, end_row_ = 0, first_ = 0, count_ = 0;
  const char* line_ = nullptr;
  const char* row_end_ = nullptr;
};

// A line requested every 4 values of k: one panel's tile requests the next block's 8 weight rows
// (count / 4 lines), one line per 24 x 4 FMAs, far fewer than a core keeps in flight. In a
// window's prefill (171 rows, 2 threads) gate/up went from 6.1-6.6 to 5.8-6.3 ms and down from
// 6.7-7.3 to 6.3-6.8 ms.
constexpr int64_t kValuesPerPrefetch = 4;

// One tile: weight rows [row, row + Rows) (float32 in `widened`, `count` apart) by the
// 16 x Vectors x rows of a panel from `panel_row`, over `count` values of k. The sums start from
// zero on the first slice, else from `partial`; after the last slice they get the bias, are
// rounded and are stored, else they wait in `partial` for the next slice. Meanwhile it requests
// the next lines of `prefetch`.
template <int Rows, int Vectors>
SLOWFAST_GEMM_TARGET void gemm_tile(const float* widened, const float* panel, int64_t count,
                                    bool first_slice, bool last_slice, float* partial, int64_t row,
                                    int64_t panel_row, const Output& output,
                                    WeightPrefetch& prefetch) {
  constexpr int64_t width = 16 * Vectors;
  __m512 acc[Rows][Vectors];
  for (int i = 0; i < Rows; ++i) {
    for (int v = 0; v < Vectors; ++v) {
      acc[i][v] = first_slice ? _mm512_setzero_ps()
                              : _mm512_loadu_ps(partial + (i * kPanelVectors + v) * 16);
    }
  }
  for (int64_t j = 0; j < count; ++j) {
    if (j % kValuesPerPrefetch == 0) prefetch.next();
    __m512 xs[Vectors];
    for (int v = 0; v < Vectors; ++v) xs[v] = _mm512_loadu_ps(panel + j * width + 16 * v);
    for (int i = 0; i < Rows; ++i) {
      const __m512 w = _mm512_set1_ps(widened[i * count + j]);
      for (int v = 0; v < Vectors; ++v) acc[i][v] = _mm512_fmadd_ps(w, xs[v], acc[i][v]);
    }
  }
  if (!last_slice) {
    for (int i = 0; i < Rows; ++i) {
      for (int v = 0; v < Vectors; ++v)
        _mm512_storeu_ps(partial + (i * kPanelVectors + v) * 16, acc[i][v]);
    }
    return;
  }
  const auto mask = static_cast<__mmask8>((1u << Rows) - 1);
  for (int v = 0; v < Vectors; ++v) {
    __m256i rounded[8], by_x_row[8];
    for (int i = 0; i < 8; ++i) {
      if (i >= Rows) {
        rounded[i] = _mm256_setzero_si256();
        continue;
      }
      const __m512 sum =
          output.bias ? _mm512_add_ps(acc[i][v], _mm512_set1_ps(output.bias[row + i])) : acc[i][v];
      rounded[i] = round_bf16(sum);
    }
    transpose_8x16(rounded, by_x_row);
    for (int l = 0; l < 16; ++l) {
      const int64_t x_row = panel_row + 16 * v + l;
      if (x_row >= output.rows) break;
      const __m128i values = l < 8 ? _mm256_castsi256_si128(by_x_row[l])
                                   : _mm256_extracti128_si256(by_x_row[l - 8], 1);
      _mm_mask_storeu_epi16(output.data + x_row * output.n + row, mask, values);
    }
  }
}

}  // namespace

bool bf16_gemm_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  if (weight.dim() != 2 || x.dim() < 1 || x.size(-1) != weight.size(1) || weight.size(1) == 0)
    return false;
  // Below 64 values of K or N the tiles are too few or too short to beat oneDNN (a vision
  // block's 2304 x 32 x 128: 0.23 against 0.16 ms).
  const int64_t rows = x.numel() / weight.size(1);
  return rows > kBf16GemvMaxRows && weight.size(0) >= 64 && weight.size(1) >= 64 &&
         x.scalar_type() == torch::kBFloat16 && weight.scalar_type() == torch::kBFloat16 &&
         x.is_cpu() && weight.is_cpu() && weight.is_contiguous() && !x.requires_grad() &&
         !weight.requires_grad() && bf16_gemv_supported() &&
         bf16_gemv_default_path() == Bf16GemvPath::kFma;
}

torch::Tensor bf16_gemm_linear(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias) {
  if (!bf16_gemm_applies(x, weight)) {
    throw Error(
        "bf16_gemm_linear: needs bfloat16 CPU tensors x [..., K] with more than 64 rows "
        "and contiguous weight [N, K] on an Intel CPU with AVX512; got x " +
        c10::str(x.sizes()) + " " + c10::toString(x.scalar_type()) + ", weight " +
        c10::str(weight.sizes()) + " " + c10::toString(weight.scalar_type()));
  }
  const int64_t n = weight.size(0);
  const int64_t k = weight.size(1);
  const int64_t m = x.numel() / k;
  const torch::Tensor rows = x.reshape({m, k}).contiguous();
  const int64_t padded_m = (m + 15) / 16 * 16;
  // pack_x writes every value, padding rows included: no zero-filling first (3.3 MB for
  // down_proj's 171 rows).
  const torch::Tensor packed = torch::empty({padded_m * k}, torch::kFloat32);
  float* const panels = packed.data_ptr<float>();
  pack_x(reinterpret_cast<const uint16_t*>(rows.data_ptr<at::BFloat16>()), m, k, padded_m, panels);

  torch::Tensor out = torch::empty({m, n}, x.options());
  const torch::Tensor bias32 =
      bias.defined() ? bias.to(torch::kFloat32).contiguous() : torch::Tensor();
  const Output output{reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>()), m, n,
                      bias32.defined() ? bias32.data_ptr<float>() : nullptr};
  const auto* weight_data = reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>());

  const int64_t blocks = (n + kTileRows - 1) / kTileRows;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    FlushDenormals flush;
    std::vector<float> widened;
    std::vector<float> partial;
    // The K slice's length for the x-row block from `block_row`.
    const auto slice_length = [&](int64_t block_row) {
      const int64_t block_m = std::min(kBlockRows, padded_m - block_row);
      const int64_t slice_max =
          std::max<int64_t>(16, kSliceBytes / int64_t{sizeof(float)} / block_m);
      const int64_t slices = (k + slice_max - 1) / slice_max;
      return (k + slices - 1) / slices;
    };
    // What this thread widens after weight-row block `block` of the slice at `first`: the next
    // block, else the next slice's first block, else the next x-row block's.
    const auto prefetch_after = [&](int64_t block_row, int64_t first, int64_t slice,
                                    int64_t block) {
      int64_t next_first = first;
      int64_t next_slice = slice;
      if (++block == end) {
        block = begin;
        next_first += slice;
        if (next_first >= k) {
          if (block_row + kBlockRows >= padded_m) return WeightPrefetch();
          next_first = 0;
          next_slice = slice_length(block_row + kBlockRows);
        }
      }
      const int64_t row = block * kTileRows;
      return WeightPrefetch(weight_data, k, row, std::min<int64_t>(kTileRows, n - row), next_first,
                            std::min(next_slice, k - next_first));
    };
    for (int64_t block_row = 0; block_row < padded_m; block_row += kBlockRows) {
      const int64_t block_m = std::min(kBlockRows, padded_m - block_row);
      const int64_t block_panels = (block_m + kPanelWidth - 1) / kPanelWidth;
      const int64_t slice = slice_length(block_row);
      const int64_t slices = (k + slice - 1) / slice;
      widened.resize(static_cast<size_t>(kTileRows * slice));
      // One tile's sums per (weight-row block, panel) between slices.
      partial.resize(
          slices > 1 ? static_cast<size_t>((end - begin) * block_panels * kTileRows * kPanelWidth)
                     : 0);
      for (int64_t first = 0; first < k; first += slice) {
        const int64_t count = std::min(slice, k - first);
        const bool first_slice = first == 0;
        const bool last_slice = first + count == k;
        for (int64_t block = begin; block < end; ++block) {
          const int64_t row = block * kTileRows;
          WeightPrefetch prefetch = prefetch_after(block_row, first, slice, block);
          with_count<kTileRows>(n - row, [&](auto tile_rows) {
            constexpr int kRows = decltype(tile_rows)::value;
            widen_weight_rows<kRows>(weight_data, k, row, first, count, widened.data());
            for (int64_t p = 0; p < block_panels; ++p) {
              const int64_t panel_row = block_row + p * kPanelWidth;
              const int64_t width = std::min(kPanelWidth, padded_m - panel_row);
              const float* panel = panels + panel_row * k + first * width;
              float* tile_partial = slices > 1
                                        ? partial.data() + ((block - begin) * block_panels + p) *
                                                               kTileRows * kPanelWidth
                                        : nullptr;
              with_count<kPanelVectors>(width / 16, [&](auto tile_vectors) {
                gemm_tile<kRows, decltype(tile_vectors)::value>(
                    widened.data(), panel, count, first_slice, last_slice, tile_partial, row,
                    panel_row, output, prefetch);
              });
            }
          });
        }
      }
    }
  });
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = n;
  return out.view(shape);
}

}  // namespace slowfast
