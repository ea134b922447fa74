// Choosing the next token from a 1-D logits vector: pure functions with Hugging Face semantics,
// applied in HF's order (repetition penalty, temperature, top-k, top-p), then greedy argmax or a
// draw from a seeded generator. Everything runs on the logits' device.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/torch.h>

namespace slowfast {

struct SamplingParams {
  double temperature = 0.0;         // 0 = greedy
  double top_p = 1.0;               // 1 = off
  int64_t top_k = 0;                // 0 = off
  double repetition_penalty = 1.0;  // 1 = off
};

// Throws slowfast::Error naming the setting when a value is out of range.
void validate(const SamplingParams& params);

// logits: [V] -> float32 [V] with ids >= vocab_limit set to -inf (vocab_limit <= 0 or >= V: none).
torch::Tensor limit_vocabulary(const torch::Tensor& logits, int64_t vocab_limit);
// Each distinct previous id's logit becomes logit * penalty when negative, logit / penalty
// otherwise. logits: [V] float32 -> [V]
torch::Tensor apply_repetition_penalty(const torch::Tensor& logits,
                                       const std::vector<int64_t>& previous_ids, double penalty);
// logits / temperature (temperature > 0). [V] -> [V]
torch::Tensor apply_temperature(const torch::Tensor& logits, double temperature);
// Logits below the k-th largest become -inf (ties with it stay); k <= 0 or >= V: unchanged.
torch::Tensor apply_top_k(const torch::Tensor& logits, int64_t k);
// Keeps the smallest set of most likely tokens whose probability sums to >= top_p (at least
// one); the rest become -inf. top_p >= 1: unchanged.
torch::Tensor apply_top_p(const torch::Tensor& logits, double top_p);

// The distribution a sampled step draws from: all of the above, then softmax. [V] -> float32 [V]
torch::Tensor sampling_probabilities(const torch::Tensor& logits, const SamplingParams& params,
                                     const std::vector<int64_t>& previous_ids, int64_t vocab_limit);

// A generator for logits on `device`: the same seed gives the same draws (on one kind of device).
at::Generator make_sampling_generator(uint64_t seed, const torch::Device& device = torch::kCPU);

// The next token: argmax after the vocabulary limit and repetition penalty when
// params.temperature == 0, otherwise one draw from sampling_probabilities().
int64_t choose_next_token(const torch::Tensor& logits, const SamplingParams& params,
                          const std::vector<int64_t>& previous_ids, int64_t vocab_limit,
                          at::Generator& generator);
// The same choice left on the logits' device, so that a GPU decode step reads back only the id:
// previous_ids: [n] int64 ids in [0, V) on that device (repeats allowed), or undefined
// -> [1] int64. The CPU draws are choose_next_token's.
torch::Tensor next_token(const torch::Tensor& logits, const SamplingParams& params,
                         const torch::Tensor& previous_ids, int64_t vocab_limit,
                         at::Generator& generator);

}  // namespace slowfast
