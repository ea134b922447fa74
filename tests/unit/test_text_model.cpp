// The whole language model: module paths, ablations of the cross-attention, bfloat16, and parity
// with the original on the golden checkpoints (prefill logits and greedy tokens from the golden
// fast/slow tokens, so independent of the vision tower).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "checkpoint/config.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/weights.h"
#include "layers/bf16_gemv.h"
#include "layers/linear.h"
#include "slowfast.h"
#include "test_text_util.h"
#include "test_vision_util.h"
#include "text/generate.h"
#include "text/qwen2.h"
#include "tools/npy.h"

namespace slowfast {
namespace {

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(TextModel, ParameterPathsFollowTheCheckpointLayout) {
  const Config config = test::tiny_text_config();
  Qwen2Model model(config);
  std::set<std::string> names;
  for (const auto& item : model->named_parameters()) names.insert(item.key());

  std::set<std::string> expected = {"embed_tokens.weight", "norm.weight"};
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string prefix = "layers." + std::to_string(layer) + ".";
    for (const char* name :
         {"input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
          "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
          "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.o_proj.weight",
          "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"}) {
      expected.insert(prefix + name);
    }
    if (layer == 0 || layer == 2) {  // hybrid layers of the tiny configuration
      for (const char* name :
           {"self_attn.cross_attn_kv_proj.weight", "self_attn.cross_attn_kv_proj.bias",
            "self_attn.cross_attn_gate_proj.0.weight", "self_attn.cross_attn_gate_proj.0.bias",
            "self_attn.cross_attn_warm_up_gate"}) {
        expected.insert(prefix + name);
      }
    }
  }
  EXPECT_EQ(names, expected);
  EXPECT_EQ(model->embed_tokens->weight.sizes(),
            torch::IntArrayRef({config.vocab_size, config.hidden_size}));
}

TEST(TextModel, ParametersTakeTheRequestedDtype) {
  Qwen2Model model(test::tiny_text_config(), torch::TensorOptions().dtype(torch::kBFloat16));
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
  }
}

TEST(TextModel, RejectsInconsistentConfigAndInputs) {
  Config config = test::tiny_text_config();
  config.num_key_value_heads = 3;
  EXPECT_THROW(Qwen2Model{config}, Error);
  config = test::tiny_text_config();
  config.cross_attn_gating_type = "channel-wise-dynamic-sigmoid";
  EXPECT_THROW(Qwen2Model{config}, Error);

  Qwen2Model model = test::random_model(test::tiny_text_config(), 1);
  KVCache cache;
  EXPECT_THROW(model->forward(torch::randn({3, 7}), {}, {}, cache), Error);
  EXPECT_THROW(model->forward(torch::randn({3, 32}), {}, torch::randn({4, 32}), cache), Error);
  EXPECT_THROW(model->forward(torch::randn({3, 32}), torch::ones({3}, torch::kBool),
                              torch::randn({4, 5}), cache),
               Error);
  EXPECT_THROW(model->embed(torch::tensor({40}, torch::kLong)), Error);
}

class TextModelAblation : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = test::random_model(config_, 51);
    embeds_ = test::random_tensor({10, config_.hidden_size}, 52);
    memory_ = test::random_tensor({16, config_.hidden_size}, 53);
  }
  // Logits of the last position (a text token) with `memory` as slow tokens.
  torch::Tensor last_logits(const torch::Tensor& memory) {
    torch::InferenceMode inference;
    KVCache cache;
    const torch::Tensor hidden = model_->forward(embeds_, is_text_, memory, cache);
    return logits(hidden.narrow(0, 9, 1), model_->embed_tokens->weight);
  }

  Config config_ = test::tiny_text_config();
  Qwen2Model model_{nullptr};
  torch::Tensor embeds_, memory_;
  torch::Tensor is_text_ = test::prompt_token_types(3, 4, 3);
};

TEST_F(TextModelAblation, SlowTokensChangeThePrefillLogits) {
  const torch::Tensor with_memory = last_logits(memory_);
  EXPECT_GT(max_difference(with_memory, last_logits(torch::zeros_like(memory_))), 1e-3);
  EXPECT_GT(max_difference(with_memory, last_logits(test::random_tensor({16, 32}, 54))), 1e-3);
  EXPECT_GT(max_difference(with_memory, last_logits({})), 1e-3);
}

TEST_F(TextModelAblation, MemoryHasNoPositionsAndIsNormalised) {
  // No RoPE on the memory: the order of the slow tokens does not matter; and they go through
  // input_layernorm, so a uniform scale does not either.
  const torch::Tensor with_memory = last_logits(memory_);
  EXPECT_LT(max_difference(with_memory, last_logits(memory_.flip(0))), 1e-5);
  EXPECT_LT(max_difference(with_memory, last_logits(memory_ * 3.0)), 1e-5);
}

TEST_F(TextModelAblation, ClosedGateRemovesTheCrossAttention) {
  const torch::Tensor without_memory = last_logits({});
  EXPECT_GT(max_difference(last_logits(memory_), without_memory), 1e-3);
  for (auto& item : model_->named_parameters()) {
    if (item.key().find("cross_attn_warm_up_gate") != std::string::npos) item.value().zero_();
  }
  EXPECT_LT(max_difference(last_logits(memory_), without_memory), 1e-6);
}

TEST_F(TextModelAblation, NoVisualTokenMeansNoCrossAttention) {
  // The original multiplies the cross-attention by "the pass holds a visual token", so memory
  // with an all-text pass (every decode step) changes nothing.
  torch::InferenceMode inference;
  KVCache with_cache, without_cache;
  const torch::Tensor all_text = torch::ones({10}, torch::kBool);
  EXPECT_TRUE(torch::equal(model_->forward(embeds_, all_text, memory_, with_cache),
                           model_->forward(embeds_, all_text, {}, without_cache)));
}

TEST(TextModel, Bfloat16FollowsFloat32) {
  const Config config = test::tiny_text_config();
  Qwen2Model f32 = test::random_model(config, 61);
  Qwen2Model bf16(config, torch::TensorOptions().dtype(torch::kBFloat16));
  {
    torch::NoGradGuard no_grad;
    auto source = f32->named_parameters();
    for (auto& item : bf16->named_parameters()) item.value().copy_(source[item.key()]);
  }
  torch::InferenceMode inference;
  const torch::Tensor embeds = test::random_tensor({8, config.hidden_size}, 62);
  const torch::Tensor memory = test::random_tensor({6, config.hidden_size}, 63);
  const torch::Tensor is_text = test::prompt_token_types(2, 3, 3);
  KVCache cache_f32, cache_bf16;
  const torch::Tensor out_f32 = f32->forward(embeds, is_text, memory, cache_f32);
  const torch::Tensor out_bf16 = bf16->forward(embeds, is_text, memory, cache_bf16);
  EXPECT_EQ(out_bf16.scalar_type(), torch::kBFloat16);
  EXPECT_LT(test::rel_l2(out_bf16, out_f32), 5e-2);
  const torch::Tensor step = bf16->forward(embeds.narrow(0, 0, 1), {}, {}, cache_bf16);
  EXPECT_TRUE(step.isfinite().all().item<bool>());
}

// A decode step of several sequences (each at its own cache length) gives each row what a step
// of that row alone gives: bit for bit in bf16 on the AVX512-BF16 kernel, within float32
// rounding otherwise. intermediate_size 48 is no multiple of a vector, so the rows' elementwise
// tails are covered.
TEST(TextModel, BatchedDecodeStepRowsEqualEachRowAlone) {
  const Config config = test::tiny_text_config();
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    Qwen2Model model = test::random_model(config, 71, dtype);
    torch::InferenceMode inference;
    const int64_t lengths[] = {5, 9, 2};
    KVCache alone[3], together[3];
    for (int b = 0; b < 3; ++b) {
      const torch::Tensor embeds = test::random_tensor({lengths[b], config.hidden_size}, 72 + b);
      model->forward(embeds, {}, {}, alone[b]);
      model->forward(embeds, {}, {}, together[b]);
    }
    for (int step = 0; step < 3; ++step) {
      const torch::Tensor next = test::random_tensor({3, config.hidden_size}, 80 + step);
      const torch::Tensor batch =
          model->forward_batch(next, {&together[0], &together[1], &together[2]});
      for (int b = 0; b < 3; ++b) {
        const torch::Tensor row = model->forward(next.narrow(0, b, 1), {}, {}, alone[b]);
        EXPECT_EQ(together[b].length(), alone[b].length());
        if (dtype == torch::kBFloat16 && bf16_gemv_supported()) {
          EXPECT_TRUE(torch::equal(batch.narrow(0, b, 1), row)) << "step " << step << " row " << b;
        } else {
          EXPECT_LT(test::rel_l2(batch.narrow(0, b, 1), row), 1e-5) << "step " << step;
        }
      }
    }
  }
}

// Golden parity: the language model alone, fed the golden fast and slow tokens.
class TextGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TextGolden, PrefillLogitsAndGreedyTokensMatchTheOriginal) {
  SLOWFAST_REQUIRE_GOLDEN(dir, GetParam());
  const std::filesystem::path root(dir);
  Config config = load_config((root / "model" / "config.json").string());
  merge_generation_config(config, (root / "model" / "generation_config.json").string());

  // The checkpoint's layout: the language model under "model", lm_head beside it.
  torch::nn::Module checkpoint_root;
  Qwen2Model model = checkpoint_root.register_module("model", Qwen2Model(config));
  Linear lm_head = checkpoint_root.register_module(
      "lm_head", Linear(config.hidden_size, config.vocab_size, false, torch::TensorOptions()));
  LoadWeightsOptions load_options;
  load_options.dtype = torch::kFloat32;
  load_options.ignored_prefixes = {"model.vision_tower.", "model.mm_projector."};
  // Strict: every module path must be a checkpoint tensor and every LM tensor a module path.
  ASSERT_NO_THROW(
      load_weights(checkpoint_root, Checkpoint::open((root / "model").string()), load_options));

  nlohmann::json tokens;
  std::ifstream((root / "expected" / "tokens.json").string()) >> tokens;
  const auto input_ids = tokens["input_ids"].get<std::vector<int64_t>>();
  const auto expected_ids = tokens["output_ids"].get<std::vector<int64_t>>();
  nlohmann::json case_json;
  std::ifstream((root / "case.json").string()) >> case_json;
  const torch::Tensor fast = read_npy((root / "expected" / "fast_tokens.npy").string());
  const torch::Tensor slow = read_npy((root / "expected" / "slow_tokens.npy").string());
  const torch::Tensor expected_logits =
      read_npy((root / "expected" / "prefill_logits.npy").string());

  torch::InferenceMode inference;
  // embed(text before) ++ fast tokens ++ embed(text after); -200 marks the image position.
  const auto image = std::find(input_ids.begin(), input_ids.end(), -200);
  ASSERT_NE(image, input_ids.end());
  const std::vector<int64_t> before(input_ids.begin(), image), after(image + 1, input_ids.end());
  Prompt prompt;
  prompt.embeds = torch::cat({model->embed(torch::tensor(before, torch::kLong)), fast,
                              model->embed(torch::tensor(after, torch::kLong))});
  prompt.is_text = test::prompt_token_types(static_cast<int64_t>(before.size()), fast.size(0),
                                            static_cast<int64_t>(after.size()));
  prompt.memory = slow;

  GenerationOptions options;
  options.max_new_tokens = case_json["max_new_tokens"].get<int64_t>();
  options.stop_ids = config.eos_token_ids;
  options.vocab_limit = expected_logits.size(0);  // the tokenizer's size
  KVCache cache;
  const GenerationResult result = generate(*model, lm_head->weight, prompt, options, cache);

  const torch::Tensor logits_prefix = result.prefill_logits.narrow(0, 0, expected_logits.size(0));
  EXPECT_LE(test::rel_l2(logits_prefix, expected_logits), test::kGoldenRelL2);
  EXPECT_EQ(result.output_ids, expected_ids);
}

INSTANTIATE_TEST_SUITE_P(Cases, TextGolden, ::testing::Values("a", "b"));

}  // namespace
}  // namespace slowfast
