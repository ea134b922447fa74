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
  at::Generator generator = make_sampling_generator(options.seed);
  cache.reset();
  cache.reserve(model.cache_shape(), prompt.embeds.size(0) + options.max_new_tokens,
                model.weight_options());

  auto start = Clock::now();
  const torch::Tensor hidden = model.forward(prompt.embeds, prompt.is_text, prompt.memory, cache);
  result.prefill_logits =
      logits(hidden.narrow(0, hidden.size(0) - 1, 1), lm_head_weight)[0].to(torch::kCPU);
  torch::Tensor step_logits = result.prefill_logits;
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  while (static_cast<int64_t>(result.output_ids.size()) < options.max_new_tokens) {
    if (!result.output_ids.empty()) {
      if (should_abort && should_abort()) {
        result.aborted = true;
        break;
      }
      const torch::Tensor next_embed =
          model.embed(torch::tensor({result.output_ids.back()}, torch::kLong));
      step_logits = logits(model.forward(next_embed, {}, {}, cache), lm_head_weight)[0];
    }
    const int64_t id = choose_next_token(step_logits, options.sampling, result.output_ids,
                                         options.vocab_limit, generator);
    if (is_stop(id)) {
      result.stop_id = id;
      break;
    }
    result.output_ids.push_back(id);
    if (on_token) on_token(id);
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace slowfast
