#include "text/decode_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <torch/torch.h>

#include "layers/kernel_threads.h"
#include "layers/kernel_util.h"
#include "slowfast.h"
#include "text/grouped_attention.h"

// GCC 12's AVX512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its own
// -Wmaybe-uninitialized reports at every inlined call (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slowfast {
namespace {

// float32 values per 512-bit register.
constexpr int64_t kLanes = 16;
// Head dimensions up to this many registers (256 values; Qwen2 uses 64 and 128).
constexpr int64_t kMaxChunks = 16;

#define SLOWFAST_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

SLOWFAST_AVX512 inline __m512 load_lanes(const float* source, __mmask16 mask) {
  return _mm512_maskz_loadu_ps(mask, source);
}

// bfloat16, widened to float32.
SLOWFAST_AVX512 inline __m512 load_lanes(const at::BFloat16* source, __mmask16 mask) {
  return load_widened(mask, source);
}

inline void store_value(float* target, float value) {
  *target = value;
}
inline void store_value(at::BFloat16* target, float value) {
  *target = at::BFloat16(value);  // round to nearest even
}

struct HeadJob {
  int64_t groups;      // query heads per key/value head
  int64_t length;      // cached positions
  int64_t head_dim;    // D
  int64_t key_stride;  // between cached positions (D for a cache's rows)
  float scale;
};

// Per-thread working memory of attend_group(), reused from one item to the next.
struct Scratch {
  std::vector<float> queries;  // [G, chunks * 16] float32, zeros past D
  std::vector<float> scores;   // [G, L rounded up to 16]: scores, then softmax weights
  std::vector<float> context;  // [G, 2, chunks * 16]: the weighted sums of even and odd positions
  std::vector<float> totals;   // [G]: the softmax denominators
};

// e^x in float32 for x <= 0 (scores less their maximum), within 2 ulp: x = n ln 2 + r with
// |r| <= ln 2 / 2, e^r by its Taylor polynomial to r^7 / 7!, times 2^n. libm's expf, called once
// per score and head, took as long as the products.
SLOWFAST_AVX512 inline __m512 exp_negative(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // e^-104 is below the smallest denormal
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2, high bits exact
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);      // ln 2, the rest
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Lane i of the result: the sum of the 16 lanes of v[i]. A fixed tree of 45 instructions where
// one sum_lanes() per vector takes 112.
SLOWFAST_AVX512 inline __m512 sum_lanes_16(const __m512* v) {
  __m512 pairs[8], quads[4], halves[2];
  for (int i = 0; i < 8; ++i) {  // per 128-bit block: sums for v[2i] and v[2i+1]
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  for (int i = 0; i < 4; ++i) {  // per block: one sum for each of v[4i..4i+3]
    quads[i] = _mm512_add_ps(_mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], 0xee));
  }
  for (int i = 0; i < 2; ++i) {  // blocks added in pairs
    halves[i] = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], 0x88),
                              _mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], 0xdd));
  }
  return _mm512_add_ps(_mm512_shuffle_f32x4(halves[0], halves[1], 0x88),
                       _mm512_shuffle_f32x4(halves[0], halves[1], 0xdd));
}

// Rows [count <= 16, D] of T at `stride` -> float32 [16, chunks * 16] in `block`, zeros past the
// rows and past D, so the passes below read whole registers without masks.
template <typename T>
SLOWFAST_AVX512 void widen_block(const T* rows, int64_t count, int64_t stride, int64_t chunks,
                                 const __mmask16* masks, float* block) {
  const int64_t width = chunks * kLanes;
  for (int64_t j = 0; j < count; ++j) {
    for (int64_t c = 0; c < chunks; ++c) {
      _mm512_storeu_ps(block + j * width + c * kLanes,
                       load_lanes(rows + j * stride + c * kLanes, masks[c]));
    }
  }
  std::fill(block + count * width, block + kLanes * width, 0.0f);
}

// One sequence and key/value head: its `groups` query heads [G, D] against `length` cached keys
// and values -> out [G, D]. Keys and values are widened 16 positions at a time into a block that
// stays in L1 while every query head uses it (widening all of them first made each head read
// them again from L2); each 16 keys' products are summed in one tree.
template <typename T, int Chunks>
SLOWFAST_AVX512 void attend_group(const T* query, const T* key, const T* value, const HeadJob& job,
                                  Scratch& scratch, T* out) {
  // Chunks > 0: a head's register count known when compiled (Qwen2's 64 and 128 values); 0: any
  // other head size, counted here.
  const int64_t chunks = Chunks > 0 ? Chunks : (job.head_dim + kLanes - 1) / kLanes;
  const int64_t width = chunks * kLanes;
  const int64_t length = job.length;
  const int64_t groups = job.groups;
  const int64_t blocks = (length + kLanes - 1) / kLanes;
  const int64_t padded = blocks * kLanes;
  __mmask16 masks[kMaxChunks];
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t count = std::min(kLanes, job.head_dim - c * kLanes);
    masks[c] = static_cast<__mmask16>((1u << count) - 1);
  }
  scratch.queries.resize(static_cast<size_t>(groups * width));
  scratch.scores.resize(static_cast<size_t>(groups * padded));
  scratch.context.assign(static_cast<size_t>(groups * 2 * width), 0.0f);
  float* queries = scratch.queries.data();
  float* scores = scratch.scores.data();
  float* context = scratch.context.data();
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t c = 0; c < chunks; ++c) {
      _mm512_storeu_ps(queries + g * width + c * kLanes,
                       load_lanes(query + g * job.head_dim + c * kLanes, masks[c]));
    }
  }
  alignas(64) float block_rows[kLanes * kMaxChunks * kLanes];
  const __m512 scale = _mm512_set1_ps(job.scale);

  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t first = block * kLanes;
    widen_block(key + first * job.key_stride, std::min(kLanes, length - first), job.key_stride,
                chunks, masks, block_rows);
    for (int64_t g = 0; g < groups; ++g) {
      const float* q = queries + g * width;
      __m512 dots[kLanes];
#pragma GCC unroll 16
      for (int i = 0; i < kLanes; ++i) {
        const float* k = block_rows + i * width;
        dots[i] = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(k));
        for (int64_t c = 1; c < chunks; ++c) {
          dots[i] = _mm512_fmadd_ps(_mm512_loadu_ps(q + c * kLanes),
                                    _mm512_loadu_ps(k + c * kLanes), dots[i]);
        }
      }
      _mm512_storeu_ps(scores + g * padded + first, _mm512_mul_ps(sum_lanes_16(dots), scale));
    }
  }

  const auto tail =
      static_cast<__mmask16>(length % kLanes == 0 ? 0xffff : (1u << (length % kLanes)) - 1);
  scratch.totals.resize(static_cast<size_t>(groups));
  float* totals = scratch.totals.data();
  for (int64_t g = 0; g < groups; ++g) {
    float* head_scores = scores + g * padded;
    __m512 largest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t block = 0; block < blocks; ++block) {
      largest = _mm512_mask_max_ps(largest, block == blocks - 1 ? tail : 0xffff, largest,
                                   _mm512_loadu_ps(head_scores + block * kLanes));
    }
    const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(largest));
    __m512 sums = _mm512_setzero_ps();
    for (int64_t block = 0; block < blocks; ++block) {
      // Weights past `length` are zero, so the value pass needs no masks either.
      const __m512 weights = _mm512_maskz_mov_ps(
          block == blocks - 1 ? tail : 0xffff,
          exp_negative(_mm512_sub_ps(_mm512_loadu_ps(head_scores + block * kLanes), top)));
      _mm512_storeu_ps(head_scores + block * kLanes, weights);
      sums = _mm512_add_ps(sums, weights);
    }
    totals[g] = sum_lanes(sums);
  }

  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t first = block * kLanes;
    widen_block(value + first * job.key_stride, std::min(kLanes, length - first), job.key_stride,
                chunks, masks, block_rows);
    for (int64_t g = 0; g < groups; ++g) {
      // Even and odd positions in separate sums: two chains of additions share the latency.
      float* sums = context + g * 2 * width;
      __m512 even[kMaxChunks], odd[kMaxChunks];
      for (int64_t c = 0; c < chunks; ++c) {
        even[c] = _mm512_loadu_ps(sums + c * kLanes);
        odd[c] = _mm512_loadu_ps(sums + width + c * kLanes);
      }
      const float* weights = scores + g * padded + first;
      for (int i = 0; i < kLanes; i += 2) {
        const __m512 weight_even = _mm512_set1_ps(weights[i]);
        const __m512 weight_odd = _mm512_set1_ps(weights[i + 1]);
        const float* v = block_rows + i * width;
        for (int64_t c = 0; c < chunks; ++c) {
          even[c] = _mm512_fmadd_ps(weight_even, _mm512_loadu_ps(v + c * kLanes), even[c]);
          odd[c] = _mm512_fmadd_ps(weight_odd, _mm512_loadu_ps(v + width + c * kLanes), odd[c]);
        }
      }
      for (int64_t c = 0; c < chunks; ++c) {
        _mm512_storeu_ps(sums + c * kLanes, even[c]);
        _mm512_storeu_ps(sums + width + c * kLanes, odd[c]);
      }
    }
  }

  for (int64_t g = 0; g < groups; ++g) {
    const float* sums = context + g * 2 * width;
    const __m512 normaliser = _mm512_set1_ps(1.0f / totals[g]);
    alignas(64) float lanes[kMaxChunks * kLanes];
    for (int64_t c = 0; c < chunks; ++c) {
      _mm512_store_ps(lanes + c * kLanes,
                      _mm512_mul_ps(_mm512_add_ps(_mm512_loadu_ps(sums + c * kLanes),
                                                  _mm512_loadu_ps(sums + width + c * kLanes)),
                                    normaliser));
    }
    T* target = out + g * job.head_dim;
    for (int64_t d = 0; d < job.head_dim; ++d) store_value(target + d, lanes[d]);
  }
}

bool kernel_applies(const torch::Tensor& queries, const std::vector<torch::Tensor>& keys,
                    const std::vector<torch::Tensor>& values) {
  if (!avx512_supported() || !queries.is_cpu() || !queries.is_contiguous()) return false;
  const auto dtype = queries.scalar_type();
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16) return false;
  const int64_t head_dim = queries.size(2);
  if (head_dim > kMaxChunks * kLanes) return false;
  for (size_t b = 0; b < keys.size(); ++b) {
    for (const torch::Tensor* cached : {&keys[b], &values[b]}) {
      if (!cached->is_cpu() || cached->scalar_type() != dtype || cached->stride(2) != 1 ||
          cached->stride(1) != keys[b].stride(1) || cached->stride(0) != keys[b].stride(0)) {
        return false;
      }
    }
  }
  return true;
}

// What one row's key/value head attends to: `length` positions `stride` values apart.
template <typename T>
struct CachedHead {
  const T* key;
  const T* value;
  int64_t length;
  int64_t stride;
};

// queries [R, heads, D] -> out [R, heads * D]: every (row, key/value head) item through
// attend_group(), the items split over the threads (parallel_rows). Row `rank` of the work is
// row_at(rank), so that a caller can spread long and short rows over the threads' contiguous
// chunks; cached(row, kv_head) says what the item attends to.
template <typename T, typename RowAt, typename Cached>
void run_kernel(const torch::Tensor& queries, const RowAt& row_at, const Cached& cached,
                torch::Tensor& out) {
  const int64_t rows = queries.size(0);
  const int64_t heads = queries.size(1);
  const int64_t head_dim = queries.size(2);
  const int64_t kv_heads = cached.kv_heads;
  const int64_t groups = heads / kv_heads;
  const T* query_data = queries.data_ptr<T>();
  T* out_data = out.data_ptr<T>();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));

  parallel_rows(rows, 0, rows * kv_heads, 1, [&](int64_t begin, int64_t end) {
    Scratch scratch;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row = row_at(item / kv_heads);
      const int64_t kv_head = item % kv_heads;
      const CachedHead<T> head = cached.template head<T>(row, kv_head);
      const HeadJob job{groups, head.length, head_dim, head.stride, scale};
      const int64_t first_head = (row * heads + kv_head * groups) * head_dim;
      const T* query_group = query_data + first_head;
      T* out_group = out_data + first_head;
      switch ((head_dim + kLanes - 1) / kLanes) {
        case 4:
          attend_group<T, 4>(query_group, head.key, head.value, job, scratch, out_group);
          break;
        case 8:
          attend_group<T, 8>(query_group, head.key, head.value, job, scratch, out_group);
          break;
        default:
          attend_group<T, 0>(query_group, head.key, head.value, job, scratch, out_group);
      }
    }
  });
}

// A decode step: row b attends to all of sequence b's cache.
struct SequenceCaches {
  const std::vector<torch::Tensor>& keys;
  const std::vector<torch::Tensor>& values;
  int64_t kv_heads;
  template <typename T>
  CachedHead<T> head(int64_t row, int64_t kv_head) const {
    const torch::Tensor& key = keys[row];
    return {key.data_ptr<T>() + kv_head * key.stride(0),
            values[row].data_ptr<T>() + kv_head * values[row].stride(0), key.size(1),
            key.stride(1)};
  }
};

// A prompt: every row reads the same keys, row i the first causal_offset + i + 1 of them (or all).
struct PromptKeys {
  const torch::Tensor& key;
  const torch::Tensor& value;
  int64_t causal_offset;
  int64_t kv_heads;
  template <typename T>
  CachedHead<T> head(int64_t row, int64_t kv_head) const {
    const int64_t length =
        causal_offset < 0 ? key.size(1) : std::min(key.size(1), causal_offset + row + 1);
    return {key.data_ptr<T>() + kv_head * key.stride(0),
            value.data_ptr<T>() + kv_head * value.stride(0), length, key.stride(1)};
  }
};

}  // namespace

torch::Tensor decode_attention(const torch::Tensor& queries, const std::vector<torch::Tensor>& keys,
                               const std::vector<torch::Tensor>& values) {
  const int64_t batch = queries.dim() == 3 ? queries.size(0) : -1;
  bool shapes_ok =
      batch > 0 && static_cast<int64_t>(keys.size()) == batch && keys.size() == values.size();
  for (size_t b = 0; shapes_ok && b < keys.size(); ++b) {
    shapes_ok = keys[b].dim() == 3 && keys[b].sizes() == values[b].sizes() && keys[b].size(0) > 0 &&
                keys[b].size(0) == keys.front().size(0) && keys[b].size(1) > 0 &&
                keys[b].size(2) == queries.size(2) && queries.size(1) % keys[b].size(0) == 0;
  }
  if (!shapes_ok) {
    throw Error("decode attention: queries " + c10::str(queries.sizes()) + " do not match " +
                std::to_string(keys.size()) + " caches" +
                (keys.empty() ? std::string() : " (first " + c10::str(keys.front().sizes()) + ")"));
  }
  const int64_t heads = queries.size(1);
  const int64_t head_dim = queries.size(2);
  if (!kernel_applies(queries, keys, values)) {
    torch::Tensor out = torch::empty({batch, heads * head_dim}, queries.options());
    for (int64_t b = 0; b < batch; ++b) {
      out.narrow(0, b, 1).copy_(
          grouped_attention(queries.narrow(0, b, 1), keys[b], values[b], kAttendAllKeys));
    }
    return out;
  }
  torch::Tensor out = torch::empty({batch, heads * head_dim}, queries.options());
  const auto in_order = [](int64_t rank) { return rank; };
  const SequenceCaches caches{keys, values, keys.front().size(0)};
  if (queries.scalar_type() == torch::kFloat32) {
    run_kernel<float>(queries, in_order, caches, out);
  } else {
    run_kernel<at::BFloat16>(queries, in_order, caches, out);
  }
  return out;
}

torch::Tensor prompt_attention(const torch::Tensor& query, const torch::Tensor& key,
                               const torch::Tensor& value, int64_t causal_offset) {
  const bool shapes_ok = query.dim() == 3 && key.dim() == 3 && key.sizes() == value.sizes() &&
                         key.size(0) > 0 && key.size(1) > 0 && key.size(2) == query.size(2) &&
                         query.size(1) % key.size(0) == 0;
  if (!shapes_ok || query.scalar_type() != torch::kBFloat16 ||
      !kernel_applies(query, {key}, {value})) {
    return grouped_attention(query, key, value, causal_offset);
  }
  const int64_t rows = query.size(0);
  torch::Tensor out = torch::empty({rows, query.size(1) * query.size(2)}, query.options());
  // Causal rows grow longer down the prompt: taken first, last, second, second to last, ..., each
  // thread's contiguous chunk of ranks holds about as many keys as the other's.
  const auto short_and_long = [rows, causal_offset](int64_t rank) {
    if (causal_offset < 0) return rank;
    return rank % 2 == 0 ? rank / 2 : rows - 1 - rank / 2;
  };
  run_kernel<at::BFloat16>(query, short_and_long,
                           PromptKeys{key, value, causal_offset, key.size(0)}, out);
  return out;
}

}  // namespace slowfast
