// Generation on a random tiny model: stop ids, token limit, abort, callbacks, and agreement with
// step-by-step recomputation without a cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include <torch/torch.h>

#include "slowfast.h"
#include "test_text_util.h"
#include "text/generate.h"
#include "text/qwen2.h"

namespace slowfast {
namespace {

class TextGenerate : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = test::random_model(config_, 71);
    lm_head_ = test::random_tensor({config_.vocab_size, config_.hidden_size}, 72) * 0.5;
    prompt_.embeds = test::random_tensor({8, config_.hidden_size}, 73);
    prompt_.is_text = test::prompt_token_types(2, 4, 2);
    prompt_.memory = test::random_tensor({6, config_.hidden_size}, 74);
  }
  GenerationResult run(const GenerationOptions& options, const TokenIdCallback& on_token = nullptr,
                       const StopPredicate& should_abort = nullptr) {
    return generate(*model_, lm_head_, prompt_, options, cache_, on_token, should_abort);
  }

  Config config_ = test::tiny_text_config();
  Qwen2Model model_{nullptr};
  torch::Tensor lm_head_;
  Prompt prompt_;
  KVCache cache_;
};

TEST_F(TextGenerate, GreedyMatchesRecomputingTheWholeSequence) {
  GenerationOptions options;
  options.max_new_tokens = 6;
  const GenerationResult result = run(options);
  ASSERT_EQ(result.output_ids.size(), 6u);
  EXPECT_EQ(result.stop_id, -1);
  EXPECT_FALSE(result.aborted);

  // Without a cache: one forward over prompt + generated tokens per step; generated tokens do
  // not attend to the memory (marked non-text), as in the original's decode steps.
  torch::InferenceMode inference;
  torch::Tensor embeds = prompt_.embeds;
  torch::Tensor is_text = prompt_.is_text;
  for (size_t step = 0; step < result.output_ids.size(); ++step) {
    KVCache scratch;
    const torch::Tensor hidden = model_->forward(embeds, is_text, prompt_.memory, scratch);
    const torch::Tensor last = logits(hidden.narrow(0, hidden.size(0) - 1, 1), lm_head_)[0];
    if (step == 0) {
      EXPECT_TRUE(torch::allclose(last, result.prefill_logits, 1e-5, 1e-5));
    }
    EXPECT_EQ(last.argmax().item<int64_t>(), result.output_ids[step]) << "step " << step;
    const torch::Tensor id = torch::tensor({result.output_ids[step]}, torch::kLong);
    embeds = torch::cat({embeds, model_->embed(id)});
    is_text = torch::cat({is_text, torch::zeros({1}, torch::kBool)});
  }
}

TEST_F(TextGenerate, StopsAtAStopIdWithoutEmittingIt) {
  GenerationOptions options;
  options.max_new_tokens = 8;
  const std::vector<int64_t> free_run = run(options).output_ids;
  // Stop at the first id that is new at its position (so nothing earlier equals it).
  size_t stop_at = 1;
  while (std::count(free_run.begin(), free_run.begin() + stop_at, free_run[stop_at]) > 0) {
    ++stop_at;
    ASSERT_LT(stop_at, free_run.size()) << "the random model repeats one id";
  }
  options.stop_ids = {free_run[stop_at], config_.vocab_size + 5};
  std::vector<int64_t> streamed;
  const GenerationResult result = run(options, [&](int64_t id) { streamed.push_back(id); });
  const std::vector<int64_t> expected(free_run.begin(), free_run.begin() + stop_at);
  EXPECT_EQ(result.output_ids, expected);
  EXPECT_EQ(streamed, expected);
  EXPECT_EQ(result.stop_id, free_run[stop_at]);
}

TEST_F(TextGenerate, StopsAtTheTokenLimitAndStreamsEveryToken) {
  GenerationOptions options;
  options.max_new_tokens = 5;
  std::vector<int64_t> streamed;
  const GenerationResult result = run(options, [&](int64_t id) { streamed.push_back(id); });
  EXPECT_EQ(result.output_ids.size(), 5u);
  EXPECT_EQ(streamed, result.output_ids);
  EXPECT_EQ(cache_.length(), 8 + 4);  // the last token is never fed back

  options.max_new_tokens = 0;
  const GenerationResult none = run(options);
  EXPECT_TRUE(none.output_ids.empty());
  EXPECT_EQ(none.prefill_logits.sizes(), torch::IntArrayRef({config_.vocab_size}));
}

TEST_F(TextGenerate, AbortPredicateIsCheckedBeforeEveryDecodeStep) {
  GenerationOptions options;
  options.max_new_tokens = 10;
  int calls = 0;
  const GenerationResult result = run(options, nullptr, [&] { return ++calls == 3; });
  EXPECT_TRUE(result.aborted);
  // Token 1 comes from the prefill; the checks before decoding tokens 2 and 3 said go on.
  EXPECT_EQ(result.output_ids.size(), 3u);
  EXPECT_EQ(calls, 3);
}

TEST_F(TextGenerate, SeededSamplingIsReproducibleAndRespectsTheLimit) {
  GenerationOptions options;
  options.max_new_tokens = 12;
  options.sampling.temperature = 1.5;
  options.sampling.top_p = 0.95;
  options.seed = 99;
  options.vocab_limit = 10;
  const GenerationResult first = run(options);
  const GenerationResult second = run(options);
  EXPECT_EQ(first.output_ids, second.output_ids);
  for (const int64_t id : first.output_ids) EXPECT_LT(id, 10);
  options.seed = 100;
  EXPECT_NE(run(options).output_ids, first.output_ids);
}

TEST_F(TextGenerate, RejectsBadOptions) {
  GenerationOptions options;
  options.max_new_tokens = -1;
  EXPECT_THROW(run(options), Error);
  options.max_new_tokens = 1;
  options.sampling.top_p = 0;
  EXPECT_THROW(run(options), Error);
}

}  // namespace
}  // namespace slowfast
