// Prompt -> generated token ids: one prefill over the whole prompt (with the cross-attention
// memory), then one token at a time through the KV cache.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "text/kv_cache.h"
#include "text/qwen2.h"
#include "text/sampling.h"

namespace slowfast {

struct Prompt {
  torch::Tensor embeds;   // [L, H]: text embeddings with the fast (visual) tokens in place
  torch::Tensor is_text;  // [L] bool: false at visual tokens
  torch::Tensor memory;   // [M, H] slow tokens, or undefined (no cross-attention)
};

struct GenerationOptions {
  int64_t max_new_tokens = 1024;
  SamplingParams sampling;
  uint64_t seed = 0;
  std::vector<int64_t> stop_ids;  // eos ids, <|im_end|>, <|endoftext|>: generation ends there
  int64_t vocab_limit = 0;        // ids >= this are never produced (the tokenizer's size); 0: none
};

struct GenerationResult {
  std::vector<int64_t> output_ids;  // generated ids; the stop id is not included
  int64_t stop_id = -1;             // the stop id that ended generation, -1 if none did
  bool aborted = false;             // the abort predicate ended generation
  torch::Tensor prefill_logits;     // float32 [V] at the last prompt position, on the CPU
  double prefill_seconds = 0;       // the prefill forward and its lm_head
  double decode_seconds = 0;        // choosing tokens and every decode step
};

// Called with each generated id (stop ids excluded) as soon as it is chosen.
using TokenIdCallback = std::function<void(int64_t id)>;
// Returns true to stop; checked before every decode step.
using StopPredicate = std::function<bool()>;

// One request's decoding: the prefill, then one token per decode step, each chosen with the
// request's own sampling parameters and generator, so its ids do not depend on what else is
// decoded with it. generate() runs one alone; the scheduler steps several together through
// decode_step().
class Generation {
 public:
  // Validates the options and prepares `cache` (reset, grown to fit the prompt plus
  // max_new_tokens). model, lm_head_weight ([V, H]) and cache must outlive the generation.
  Generation(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight, Prompt prompt,
             const GenerationOptions& options, KVCache& cache);

  // Runs the prefill and chooses the first token (none when max_new_tokens is 0).
  void prefill();
  // Ends the generation as aborted; its ids so far are kept.
  void abort();
  // True after a stop id, max_new_tokens ids, or abort().
  bool finished() const { return finished_; }
  const GenerationResult& result() const { return result_; }
  GenerationResult take_result() { return std::move(result_); }

 private:
  friend void decode_step(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight,
                          const std::vector<Generation*>& batch);
  // step_logits: float32 [V] after the last id -> records the next id, or finishes at a stop.
  void choose(const torch::Tensor& step_logits);
  void finish();

  Qwen2ModelImpl& model_;
  torch::Tensor lm_head_weight_;
  Prompt prompt_;
  GenerationOptions options_;
  KVCache& cache_;
  at::Generator generator_;
  // The generated ids, kept on the device as well for the repetition penalty and the next
  // embedding: a step uploads nothing and reads back only its id.
  torch::Tensor generated_;
  GenerationResult result_;
  bool prefilled_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point decode_start_;
};

// One decode step of unfinished, prefilled generations on the same model: embeds each one's last
// id, runs the decoder once for all of them (Qwen2ModelImpl::forward_batch, which reads each
// weight once) and chooses each one's next id. The generations' caches must be distinct.
void decode_step(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight,
                 const std::vector<Generation*>& batch);

// Runs one request from an empty cache: `cache` is reset, grown to fit the prompt plus
// max_new_tokens, and left holding the request's positions. Stops at a stop id, after
// max_new_tokens ids, or when should_abort() returns true. lm_head_weight: [V, H].
GenerationResult generate(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight,
                          const Prompt& prompt, const GenerationOptions& options, KVCache& cache,
                          const TokenIdCallback& on_token = nullptr,
                          const StopPredicate& should_abort = nullptr);

}  // namespace slowfast
