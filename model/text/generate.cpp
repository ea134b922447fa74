#include "text/generate.h"

#include <algorithm>
#include <chrono>
#include <string>

#include <torch/torch.h>

#include "slowfast.h"
#include "util/clock.h"

namespace slowfast {
namespace {}  // namespace

GenerationResult generate(Qwen2ModelImpl& model, const torch::Tensor& lm_head_weight,
                          const Prompt& prompt, const GenerationOptions& options, KVCache& cache,
                          const TokenIdCallback& on_token, const StopPredicate& should_abort) {
  validate(options.sampling);
  if (options.max_new_tokens < 0) {
    throw Error("generation: max_new_tokens " + std::to_string(options.max_new_tokens) +
                " must be >= 0");
  }
  if (!prompt.embeds.defined() || prompt.embeds.dim() != 2 || prompt.embeds.size(0) == 0) {
    throw Error("generation: the prompt has no embeddings");
  }
  torch::InferenceMode inference;
  const auto is_stop = [&](int64_t id) {
    return std::find(options.stop_ids.begin(), options.stop_ids.end(), id) !=
           options.stop_ids.end();
  };

  GenerationResult result;
  const torch::Device device = lm_head_weight.device();
  at::Generator generator = make_sampling_generator(options.seed, device);
  cache.reset();
  cache.reserve(model.cache_shape(), prompt.embeds.size(0) + options.max_new_tokens,
                model.weight_options());
  // The generated ids, kept on the device as well for the repetition penalty and the next
  // embedding: a step uploads nothing and reads back only its id.
  const torch::Tensor generated = torch::empty(
      {options.max_new_tokens}, torch::TensorOptions().dtype(torch::kLong).device(device));
  const int64_t table_size = model.embed_tokens->weight.size(0);

  auto start = Clock::now();
  const torch::Tensor hidden = model.forward(prompt.embeds, prompt.is_text, prompt.memory, cache);
  torch::Tensor step_logits = logits(hidden.narrow(0, hidden.size(0) - 1, 1), lm_head_weight)[0];
  // The host copy is also the read-back that makes prefill_seconds the prefill's own time.
  result.prefill_logits = step_logits.to(torch::kCPU);
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  while (static_cast<int64_t>(result.output_ids.size()) < options.max_new_tokens) {
    const auto count = static_cast<int64_t>(result.output_ids.size());
    if (count > 0) {
      if (should_abort && should_abort()) {
        result.aborted = true;
        break;
      }
      const torch::Tensor next_embed =
          model.embed_tokens->forward_in_range(generated.narrow(0, count - 1, 1));
      step_logits = logits(model.forward(next_embed, {}, {}, cache), lm_head_weight)[0];
    }
    // [1] on the device; reading its value is the step's one synchronisation.
    const torch::Tensor next =
        next_token(step_logits, options.sampling, generated.narrow(0, 0, count),
                   options.vocab_limit, generator);
    const int64_t id = next.item<int64_t>();
    if (is_stop(id)) {
      result.stop_id = id;
      break;
    }
    if (id < 0 || id >= table_size) {
      throw Error("generation: token id " + std::to_string(id) +
                  " outside the embedding table of " + std::to_string(table_size));
    }
    generated.narrow(0, count, 1).copy_(next);
    result.output_ids.push_back(id);
    if (on_token) on_token(id);
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace slowfast
