#include "text/sampling.h"

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "slowfast.h"

// GCC 12's AVX512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its own
// -Wmaybe-uninitialized reports at every inlined call (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slowfast {
namespace {

constexpr float kRemoved = -std::numeric_limits<float>::infinity();

// On the logits' device: a GPU step chooses there and reads back only the id.
torch::Tensor as_float_vector(const torch::Tensor& logits) {
  if (logits.dim() != 1 || logits.numel() == 0) {
    throw Error("sampling: logits must be a non-empty 1-D tensor, got " + c10::str(logits.sizes()));
  }
  return logits.to(torch::kFloat32);
}

// The index torch::argmax gives for values[0, count): the first NaN if there is one, else the
// first largest value. libtorch's takes about 270 us for Qwen's 151,936 logits (a quarter of a
// millisecond per answer and step); two vector passes over them take a tenth of that.
__attribute__((target("avx512f"))) int64_t first_argmax_avx512(const float* values, int64_t count) {
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 largest = lowest;
  __mmask16 unordered = 0;
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m512 v = _mm512_loadu_ps(values + i);
    unordered |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    largest = _mm512_max_ps(largest, v);
  }
  const auto tail = static_cast<__mmask16>((1u << (count - i)) - 1);
  const __m512 last = _mm512_mask_loadu_ps(lowest, tail, values + i);
  unordered |= _mm512_cmp_ps_mask(last, last, _CMP_UNORD_Q);
  if (unordered != 0) {
    for (int64_t j = 0; j < count; ++j) {
      if (std::isnan(values[j])) return j;
    }
  }
  const __m512 best = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(largest, last)));
  for (i = 0; i + 16 <= count; i += 16) {
    const __mmask16 equal = _mm512_cmp_ps_mask(_mm512_loadu_ps(values + i), best, _CMP_EQ_OQ);
    if (equal != 0) return i + __builtin_ctz(equal);
  }
  const __mmask16 equal = _mm512_mask_cmp_ps_mask(tail, last, best, _CMP_EQ_OQ);
  return equal != 0 ? i + __builtin_ctz(equal) : 0;
}

// Greedy on the CPU: [V] float32 -> [1] int64, torch::argmax's choice.
torch::Tensor greedy_choice(const torch::Tensor& scores) {
  static const bool vectors = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  if (!vectors || !scores.is_cpu() || !scores.is_contiguous()) {
    return scores.argmax(/*dim=*/0, /*keepdim=*/true);
  }
  const int64_t id = first_argmax_avx512(scores.data_ptr<float>(), scores.numel());
  return torch::full({1}, id, torch::kLong);
}

// scores: [V] float32, a tensor of the caller's own (updated in place); ids: [n] int64 in [0, V)
// on its device. A repeated id gathers and writes the same value, so repeats need no removal.
torch::Tensor penalise(torch::Tensor scores, const torch::Tensor& ids, double penalty) {
  const torch::Tensor picked = scores.index_select(0, ids);
  scores.index_copy_(0, ids, torch::where(picked < 0, picked * penalty, picked / penalty));
  return scores;
}

// Scores after the vocabulary limit and the repetition penalty -> temperature, top-k, top-p,
// softmax. [V] -> float32 [V]
torch::Tensor probabilities_from(const torch::Tensor& scores, const SamplingParams& params) {
  torch::Tensor result = apply_temperature(scores, params.temperature);
  result = apply_top_k(result, params.top_k);
  result = apply_top_p(result, params.top_p);
  return torch::softmax(result, 0);
}

// One draw: probabilities [V] -> [1] int64 on their device.
torch::Tensor draw(const torch::Tensor& probabilities, at::Generator& generator) {
  if (probabilities.is_cpu()) {
    return torch::multinomial(probabilities, 1, /*replacement=*/false, generator);
  }
  // multinomial's own method for one sample (the argmax of p / Exp(1) noise) without its checks
  // of the distribution, which read the device back at every step.
  const torch::Tensor noise = torch::empty_like(probabilities).exponential_(1, generator);
  return probabilities.div(noise).argmax(/*dim=*/0, /*keepdim=*/true);
}

}  // namespace

void validate(const SamplingParams& params) {
  if (!(params.temperature >= 0.0) || !std::isfinite(params.temperature)) {
    throw Error("sampling: temperature " + std::to_string(params.temperature) +
                " must be >= 0 (0 = greedy)");
  }
  if (!(params.top_p > 0.0 && params.top_p <= 1.0)) {
    throw Error("sampling: top_p " + std::to_string(params.top_p) + " must be in (0, 1]");
  }
  if (params.top_k < 0) {
    throw Error("sampling: top_k " + std::to_string(params.top_k) + " must be >= 0 (0 = off)");
  }
  if (!(params.repetition_penalty > 0.0) || !std::isfinite(params.repetition_penalty)) {
    throw Error("sampling: repetition_penalty " + std::to_string(params.repetition_penalty) +
                " must be > 0 (1 = off)");
  }
}

torch::Tensor limit_vocabulary(const torch::Tensor& logits, int64_t vocab_limit) {
  torch::Tensor limited = as_float_vector(logits);
  if (vocab_limit <= 0 || vocab_limit >= limited.size(0)) return limited;
  if (limited.data_ptr() == logits.data_ptr()) limited = limited.clone();
  limited.narrow(0, vocab_limit, limited.size(0) - vocab_limit).fill_(kRemoved);
  return limited;
}

torch::Tensor apply_repetition_penalty(const torch::Tensor& logits,
                                       const std::vector<int64_t>& previous_ids, double penalty) {
  torch::Tensor result = as_float_vector(logits).clone();
  if (penalty == 1.0 || previous_ids.empty()) return result;
  // Distinct ids inside the vocabulary; others have no logit to penalise.
  const std::set<int64_t> distinct(previous_ids.begin(), previous_ids.end());
  std::vector<int64_t> in_vocabulary;
  for (const int64_t id : distinct) {
    if (id >= 0 && id < result.size(0)) in_vocabulary.push_back(id);
  }
  if (in_vocabulary.empty()) return result;
  return penalise(result, torch::tensor(in_vocabulary, torch::kLong).to(result.device()), penalty);
}

torch::Tensor apply_temperature(const torch::Tensor& logits, double temperature) {
  if (!(temperature > 0.0)) {
    throw Error("sampling: temperature " + std::to_string(temperature) + " must be > 0 to scale");
  }
  return as_float_vector(logits) / temperature;
}

torch::Tensor apply_top_k(const torch::Tensor& logits, int64_t k) {
  torch::Tensor scores = as_float_vector(logits);
  if (k <= 0 || k >= scores.size(0)) return scores;
  const torch::Tensor kth_largest = std::get<0>(torch::topk(scores, k)).index({k - 1});
  return scores.masked_fill(scores < kth_largest, kRemoved);
}

torch::Tensor apply_top_p(const torch::Tensor& logits, double top_p) {
  torch::Tensor scores = as_float_vector(logits);
  if (top_p >= 1.0) return scores;
  // Ascending order: a token goes when the probability mass up to and including it is at most
  // 1 - top_p, so the kept (largest) tokens sum to >= top_p; the most likely always stays.
  const auto [sorted, order] = torch::sort(scores, /*dim=*/0, /*descending=*/false);
  const torch::Tensor cumulative = torch::softmax(sorted, 0).cumsum(0);
  torch::Tensor remove_sorted = cumulative <= (1.0 - top_p);
  remove_sorted.narrow(0, remove_sorted.size(0) - 1, 1).fill_(false);
  const torch::Tensor remove = torch::zeros_like(remove_sorted).scatter(0, order, remove_sorted);
  return scores.masked_fill(remove, kRemoved);
}

torch::Tensor sampling_probabilities(const torch::Tensor& logits, const SamplingParams& params,
                                     const std::vector<int64_t>& previous_ids,
                                     int64_t vocab_limit) {
  validate(params);
  if (params.temperature == 0.0) {
    throw Error("sampling: temperature 0 means greedy decoding, which draws from no distribution");
  }
  const torch::Tensor scores = apply_repetition_penalty(limit_vocabulary(logits, vocab_limit),
                                                        previous_ids, params.repetition_penalty);
  return probabilities_from(scores, params);
}

at::Generator make_sampling_generator(uint64_t seed, const torch::Device& device) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  // A private copy of the device's default generator (libtorch creates device generators only
  // through its CUDA headers), reseeded so that the draws depend on the seed alone.
  at::Generator generator = at::globalContext().defaultGenerator(device).clone();
  generator.set_current_seed(seed);
  return generator;
}

int64_t choose_next_token(const torch::Tensor& logits, const SamplingParams& params,
                          const std::vector<int64_t>& previous_ids, int64_t vocab_limit,
                          at::Generator& generator) {
  validate(params);
  if (params.temperature == 0.0) {
    const torch::Tensor scores = apply_repetition_penalty(limit_vocabulary(logits, vocab_limit),
                                                          previous_ids, params.repetition_penalty);
    return greedy_choice(scores).item<int64_t>();
  }
  const torch::Tensor probabilities =
      sampling_probabilities(logits, params, previous_ids, vocab_limit);
  return draw(probabilities, generator).item<int64_t>();
}

torch::Tensor next_token(const torch::Tensor& logits, const SamplingParams& params,
                         const torch::Tensor& previous_ids, int64_t vocab_limit,
                         at::Generator& generator) {
  validate(params);
  const bool penalised =
      params.repetition_penalty != 1.0 && previous_ids.defined() && previous_ids.numel() > 0;
  if (params.temperature == 0.0 && !penalised) {
    // Greedy: the first largest logit below the limit, found in place. Copying the vocabulary
    // to mask its tail (600 KB a row, freshly mapped) took most of a decode step's sampling.
    torch::Tensor scores = as_float_vector(logits);
    if (vocab_limit > 0 && vocab_limit < scores.size(0)) scores = scores.narrow(0, 0, vocab_limit);
    return greedy_choice(scores);
  }
  torch::Tensor scores = limit_vocabulary(logits, vocab_limit);
  if (penalised) {
    scores = penalise(scores.clone(), previous_ids.to(scores.device(), torch::kLong),
                      params.repetition_penalty);
  }
  if (params.temperature == 0.0) return greedy_choice(scores);
  return draw(probabilities_from(scores, params), generator);
}

}  // namespace slowfast
