#include "text/generate.h"

#include <algorithm>
#include <chrono>
#include <string>

#include <torch/torch.h>

#include "slowfast.h"
#include "util/clock.h"

namespace slowfast {
namespace {

// Only on the failure path: the first weight that is not finite names the culprit.
std::string nan_logits_message(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight) {
  std::string culprit = "the frames' features (the vision tower's or projector's weights?)";
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    if (!torch::isfinite(item.value()).all().item<bool>()) {
      culprit = "checkpoint tensor 'model." + item.key() + "'";
      break;
    }
  }
  if (culprit.rfind("checkpoint", 0) != 0 && !torch::isfinite(lm_head_weight).all().item<bool>()) {
    culprit = "checkpoint tensor 'lm_head.weight'";
  }
  return "generation: the prompt's logits are NaN; NaN or Inf values come from " + culprit;
}

}  // namespace

Generation::Generation(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight, Prompt prompt,
                       const GenerationOptions& options, KVCache& cache)
    : model_(model),
      lm_head_weight_(lm_head_weight),
      prompt_(std::move(prompt)),
      options_(options),
      cache_(cache) {
  // The cache and the ids buffer are then inference tensors, as everything a decode step writes.
  torch::InferenceMode inference;
  validate(options_.sampling);
  if (options_.max_new_tokens < 0) {
    throw Error("generation: max_new_tokens " + std::to_string(options_.max_new_tokens) +
                " must be >= 0");
  }
  if (!prompt_.embeds.defined() || prompt_.embeds.dim() != 2 || prompt_.embeds.size(0) == 0) {
    throw Error("generation: the prompt has no embeddings");
  }
  const torch::Device device = lm_head_weight_.device();
  generator_ = make_sampling_generator(options_.seed, device);
  cache_.reset();
  cache_.reserve(model_.cache_shape(), prompt_.embeds.size(0) + options_.max_new_tokens,
                 model_.weight_options());
  generated_ = torch::empty({options_.max_new_tokens},
                            torch::TensorOptions().dtype(torch::kLong).device(device));
}

void Generation::prefill() {
  torch::InferenceMode inference;
  const auto start = Clock::now();
  const torch::Tensor hidden =
      model_.forward(prompt_.embeds, prompt_.is_text, prompt_.memory, cache_);
  const torch::Tensor step_logits =
      logits(hidden.narrow(0, hidden.size(0) - 1, 1), lm_head_weight_)[0];
  // The host copy is also the read-back that makes prefill_seconds the prefill's own time.
  result_.prefill_logits = step_logits.to(torch::kCPU);
  if (torch::isnan(result_.prefill_logits).any().item<bool>())
    throw Error(nan_logits_message(model_, lm_head_weight_));
  result_.prefill_seconds = seconds_since(start);
  prefilled_ = true;
  // The prompt's tensors are not needed any more (the slow tokens can be large).
  prompt_ = Prompt();
  decode_start_ = Clock::now();
  if (options_.max_new_tokens == 0) {
    finish();
    return;
  }
  choose(step_logits);
}

void Generation::abort() {
  if (finished_) return;
  result_.aborted = true;
  finish();
}

void Generation::finish() {
  finished_ = true;
  result_.decode_seconds = prefilled_ ? seconds_since(decode_start_) : 0;
}

void Generation::choose(const torch::Tensor& step_logits) {
  const auto count = static_cast<int64_t>(result_.output_ids.size());
  // [1] on the device; reading its value is the step's one synchronisation.
  const torch::Tensor next =
      next_token(step_logits, options_.sampling, generated_.narrow(0, 0, count),
                 options_.vocab_limit, generator_);
  const int64_t id = next.item<int64_t>();
  if (std::find(options_.stop_ids.begin(), options_.stop_ids.end(), id) !=
      options_.stop_ids.end()) {
    result_.stop_id = id;
    finish();
    return;
  }
  const int64_t table_size = model_.embed_tokens->weight.size(0);
  if (id < 0 || id >= table_size) {
    throw Error("generation: token id " + std::to_string(id) + " outside the embedding table of " +
                std::to_string(table_size));
  }
  generated_.narrow(0, count, 1).copy_(next);
  result_.output_ids.push_back(id);
  if (count + 1 >= options_.max_new_tokens) finish();
}

void decode_step(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight,
                 const std::vector<Generation*>& batch) {
  if (batch.empty()) return;
  torch::InferenceMode inference;
  std::vector<torch::Tensor> last_ids;
  std::vector<KVCache*> caches;
  for (Generation* generation : batch) {
    if (!generation->prefilled_ || generation->finished_) {
      throw Error("generation: a decode step needs prefilled, unfinished generations");
    }
    const auto count = static_cast<int64_t>(generation->result_.output_ids.size());
    last_ids.push_back(generation->generated_.narrow(0, count - 1, 1));
    caches.push_back(&generation->cache_);
  }
  const torch::Tensor ids = batch.size() == 1 ? last_ids.front() : torch::cat(last_ids);  // [B]
  const torch::Tensor embeds = model.embed_tokens->forward_in_range(ids);                 // [B, H]
  const torch::Tensor step_logits =
      logits(model.forward_batch(embeds, caches), lm_head_weight);  // [B, V] float32
  for (size_t row = 0; row < batch.size(); ++row) {
    batch[row]->choose(step_logits[static_cast<int64_t>(row)]);
  }
}

GenerationResult generate(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight,
                          const Prompt& prompt, const GenerationOptions& options, KVCache& cache,
                          const TokenIdCallback& on_token, const StopPredicate& should_abort) {
  Generation generation(model, lm_head_weight, prompt, options, cache);
  generation.prefill();
  size_t delivered = 0;
  const auto deliver = [&] {
    const std::vector<int64_t>& ids = generation.result().output_ids;
    for (; delivered < ids.size(); ++delivered) {
      if (on_token) on_token(ids[delivered]);
    }
  };
  deliver();
  while (!generation.finished()) {
    if (should_abort && should_abort()) {
      generation.abort();
      break;
    }
    decode_step(model, lm_head_weight, {&generation});
    deliver();
  }
  return generation.take_result();
}

}  // namespace slowfast
