#include "text/decode_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <torch/torch.h>

#include "layers/kernel_threads.h"
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

bool avx512_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return supported;
}

#define SLOWFAST_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

SLOWFAST_AVX512 inline __m512 load_lanes(const float* source, __mmask16 mask) {
  return _mm512_maskz_loadu_ps(mask, source);
}

// bfloat16 is the upper half of a float32: widen and shift.
SLOWFAST_AVX512 inline __m512 load_lanes(const at::BFloat16* source, __mmask16 mask) {
  const __m256i raw = _mm256_maskz_loadu_epi16(mask, source);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

// The 16 lanes summed in a fixed tree (halves, then quarters, ...).
SLOWFAST_AVX512 inline float sum_lanes(__m512 v) {
  const __m256 low = _mm512_castps512_ps256(v);
  const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 eight = _mm256_add_ps(low, high);
  __m128 four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps(eight, 1));
  four = _mm_add_ps(four, _mm_movehl_ps(four, four));
  four = _mm_add_ss(four, _mm_movehdup_ps(four));
  return _mm_cvtss_f32(four);
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

// One sequence and key/value head: its `groups` query heads [G, D] against `length` cached keys
// and values -> out [G, D]. `scores` holds `length` floats.
template <typename T>
SLOWFAST_AVX512 void attend_head(const T* query, const T* key, const T* value, const HeadJob& job,
                                 float* scores, T* out) {
  const int64_t chunks = (job.head_dim + kLanes - 1) / kLanes;
  __mmask16 masks[kMaxChunks];
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t count = std::min(kLanes, job.head_dim - c * kLanes);
    masks[c] = static_cast<__mmask16>((1u << count) - 1);
  }
  for (int64_t g = 0; g < job.groups; ++g) {
    const T* q = query + g * job.head_dim;
    __m512 q_lanes[kMaxChunks];
    for (int64_t c = 0; c < chunks; ++c) q_lanes[c] = load_lanes(q + c * kLanes, masks[c]);

    float largest = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < job.length; ++j) {
      const T* k = key + j * job.key_stride;
      __m512 dot = _mm512_mul_ps(q_lanes[0], load_lanes(k, masks[0]));
      for (int64_t c = 1; c < chunks; ++c) {
        dot = _mm512_fmadd_ps(q_lanes[c], load_lanes(k + c * kLanes, masks[c]), dot);
      }
      scores[j] = sum_lanes(dot) * job.scale;
      largest = std::max(largest, scores[j]);
    }
    float total = 0.0f;
    for (int64_t j = 0; j < job.length; ++j) {
      scores[j] = std::exp(scores[j] - largest);
      total += scores[j];
    }

    __m512 context[kMaxChunks];
    for (int64_t c = 0; c < chunks; ++c) context[c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < job.length; ++j) {
      const T* v = value + j * job.key_stride;
      const __m512 weight = _mm512_set1_ps(scores[j]);
      for (int64_t c = 0; c < chunks; ++c) {
        context[c] = _mm512_fmadd_ps(weight, load_lanes(v + c * kLanes, masks[c]), context[c]);
      }
    }
    const __m512 normaliser = _mm512_set1_ps(1.0f / total);
    alignas(64) float lanes[kMaxChunks * kLanes];
    for (int64_t c = 0; c < chunks; ++c) {
      _mm512_store_ps(lanes + c * kLanes, _mm512_mul_ps(context[c], normaliser));
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

template <typename T>
void run_kernel(const torch::Tensor& queries, const std::vector<torch::Tensor>& keys,
                const std::vector<torch::Tensor>& values, torch::Tensor& out) {
  const int64_t batch = queries.size(0);
  const int64_t heads = queries.size(1);
  const int64_t head_dim = queries.size(2);
  const int64_t kv_heads = keys.front().size(0);
  const int64_t groups = heads / kv_heads;
  int64_t longest = 0;
  for (const auto& key : keys) longest = std::max(longest, key.size(1));
  const T* query_data = queries.data_ptr<T>();
  T* out_data = out.data_ptr<T>();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));

  parallel_chunks(0, batch * kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(std::max<int64_t>(1, longest)));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / kv_heads;
      const int64_t kv_head = item % kv_heads;
      const torch::Tensor& key = keys[b];
      const HeadJob job{groups, key.size(1), head_dim, key.stride(1), scale};
      const int64_t first_head = (b * heads + kv_head * groups) * head_dim;
      attend_head(query_data + first_head, key.data_ptr<T>() + kv_head * key.stride(0),
                  values[b].data_ptr<T>() + kv_head * values[b].stride(0), job, scores.data(),
                  out_data + first_head);
    }
  });
}

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
  if (queries.scalar_type() == torch::kFloat32) {
    run_kernel<float>(queries, keys, values, out);
  } else {
    run_kernel<at::BFloat16>(queries, keys, values, out);
  }
  return out;
}

}  // namespace slowfast
