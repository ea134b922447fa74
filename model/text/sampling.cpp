#include "text/sampling.h"

#include <cmath>
#include <limits>
#include <set>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {
namespace {

constexpr float kRemoved = -std::numeric_limits<float>::infinity();

torch::Tensor as_float_vector(const torch::Tensor& logits) {
  if (logits.dim() != 1 || logits.numel() == 0) {
    throw Error("sampling: logits must be a non-empty 1-D tensor, got " + c10::str(logits.sizes()));
  }
  return logits.to(torch::kCPU, torch::kFloat32);
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
  const torch::Tensor ids = torch::tensor(in_vocabulary, torch::kLong);
  const torch::Tensor scores = result.index_select(0, ids);
  result.index_copy_(0, ids, torch::where(scores < 0, scores * penalty, scores / penalty));
  return result;
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
  remove_sorted.index_put_({-1}, false);
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
  torch::Tensor scores = limit_vocabulary(logits, vocab_limit);
  scores = apply_repetition_penalty(scores, previous_ids, params.repetition_penalty);
  scores = apply_temperature(scores, params.temperature);
  scores = apply_top_k(scores, params.top_k);
  scores = apply_top_p(scores, params.top_p);
  return torch::softmax(scores, 0);
}

at::Generator make_sampling_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

int64_t choose_next_token(const torch::Tensor& logits, const SamplingParams& params,
                          const std::vector<int64_t>& previous_ids, int64_t vocab_limit,
                          at::Generator& generator) {
  validate(params);
  if (params.temperature == 0.0) {
    const torch::Tensor scores = apply_repetition_penalty(limit_vocabulary(logits, vocab_limit),
                                                          previous_ids, params.repetition_penalty);
    return scores.argmax().item<int64_t>();
  }
  const torch::Tensor probabilities =
      sampling_probabilities(logits, params, previous_ids, vocab_limit);
  return torch::multinomial(probabilities, 1, /*replacement=*/false, generator).item<int64_t>();
}

}  // namespace slowfast
