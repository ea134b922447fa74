// Text-to-video cross-attention: memory layout, token selection, gate, and a hybrid attention
// block against a reference written from the spec's formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "layers/random_init.h"
#include "slowfast.h"
#include "test_text_util.h"
#include "text/attention.h"
#include "text/cross_attention.h"
#include "text/grouped_attention.h"
#include "text/kv_cache.h"
#include "text/rms_norm.h"
#include "text/rope.h"

namespace slowfast {
namespace {

TEST(TextCrossAttention, ParsesSupportedSettings) {
  const CrossAttentionGating release = parse_cross_attention_gating("whole-dynamic-tanh-warmup");
  EXPECT_TRUE(release.tanh);
  EXPECT_TRUE(release.warm_up);
  const CrossAttentionGating plain = parse_cross_attention_gating("whole-dynamic");
  EXPECT_FALSE(plain.tanh);
  EXPECT_FALSE(plain.warm_up);
  EXPECT_THROW(parse_cross_attention_gating("channel-wise-dynamic-sigmoid"), Error);

  EXPECT_FALSE(
      parse_cross_attention_implementation("text-only-vanilla-flashattn").skip_before_first_visual);
  EXPECT_TRUE(parse_cross_attention_implementation("text-only-vanilla-masksystem")
                  .skip_before_first_visual);
  EXPECT_THROW(parse_cross_attention_implementation("vanilla"), Error);
}

TEST(TextCrossAttention, RowsAreTextTokensOfPassesWithVisualTokens) {
  const torch::Tensor is_text = test::prompt_token_types(2, 2, 1);  // T T V V T
  const torch::Tensor rows = cross_attention_rows(is_text, CrossAttentionScope{});
  EXPECT_TRUE(torch::equal(rows, torch::tensor({0, 1, 4}, torch::kLong)));

  CrossAttentionScope mask_system;
  mask_system.skip_before_first_visual = true;
  EXPECT_TRUE(
      torch::equal(cross_attention_rows(is_text, mask_system), torch::tensor({4}, torch::kLong)));

  // No visual token in the pass (every decode step): no cross-attention at all.
  EXPECT_FALSE(
      cross_attention_rows(torch::ones({3}, torch::kBool), CrossAttentionScope{}).defined());
  EXPECT_THROW(cross_attention_rows(torch::ones({3}, torch::kLong), CrossAttentionScope{}), Error);
}

TEST(TextCrossAttention, MemoryKeysAndValuesAreInterleavedPerHead) {
  // kv_proj output index (head * 2 + kv) * D + d carries 100 * head + 10 * kv + d, plus the
  // memory row's first input (zero weights but one column of ones). Rows have mean square 1, so
  // the RMSNorm (unit weight) leaves them unchanged.
  const int64_t kv_heads = 2, head_dim = 3, hidden = 4, memory_len = 5;
  RMSNorm norm(hidden, 1e-6, torch::TensorOptions());
  Linear kv_proj(hidden, kv_heads * 2 * head_dim, true, torch::TensorOptions());
  kv_proj->weight.zero_();
  kv_proj->weight.select(1, 0).fill_(1.0f);
  for (int64_t head = 0; head < kv_heads; ++head) {
    for (int64_t kv = 0; kv < 2; ++kv) {
      for (int64_t d = 0; d < head_dim; ++d) {
        kv_proj->bias[(head * 2 + kv) * head_dim + d] = 100.0 * head + 10.0 * kv + d;
      }
    }
  }
  const torch::Tensor angle = torch::arange(memory_len, torch::kFloat32) * 0.5;
  torch::Tensor memory = torch::zeros({memory_len, hidden});
  memory.select(1, 0).copy_(2.0 * angle.cos());
  memory.select(1, 1).copy_(2.0 * angle.sin());

  const MemoryKeyValues projected = project_memory(memory, *norm, *kv_proj, kv_heads, head_dim);
  ASSERT_EQ(projected.key.sizes(), torch::IntArrayRef({kv_heads, memory_len, head_dim}));
  ASSERT_EQ(projected.value.sizes(), torch::IntArrayRef({kv_heads, memory_len, head_dim}));
  for (int64_t head = 0; head < kv_heads; ++head) {
    for (int64_t m = 0; m < memory_len; ++m) {
      const double marker = 2.0 * std::cos(0.5 * m);
      for (int64_t d = 0; d < head_dim; ++d) {
        EXPECT_NEAR(projected.key[head][m][d].item<double>(), 100.0 * head + d + marker, 1e-4);
        EXPECT_NEAR(projected.value[head][m][d].item<double>(), 100.0 * head + 10.0 + d + marker,
                    1e-4);
      }
    }
  }
}

TEST(TextCrossAttention, GateIsTanhProjectionTimesTanhWarmUp) {
  Linear gate_proj(3, 1, true, torch::TensorOptions());
  gate_proj->weight.copy_(torch::tensor({0.5f, -1.0f, 2.0f}).view({1, 3}));
  gate_proj->bias.fill_(0.25f);
  const torch::Tensor attention = torch::tensor({1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 0.3f}).view({2, 3});
  const torch::Tensor warm_up = torch::tensor({0.8f});
  const double pre[2] = {0.5 * 1 - 1.0 * 2 + 2.0 * 0.5 + 0.25, 0.5 * -1 + 0 + 2.0 * 0.3 + 0.25};

  CrossAttentionGating gating{true, true};
  torch::Tensor gate = cross_attention_gate(attention, *gate_proj, warm_up, gating);
  ASSERT_EQ(gate.sizes(), torch::IntArrayRef({2, 1}));
  for (int i = 0; i < 2; ++i) {
    EXPECT_NEAR(gate[i][0].item<double>(), std::tanh(pre[i]) * std::tanh(0.8), 1e-6);
  }
  gating = {false, true};
  gate = cross_attention_gate(attention, *gate_proj, warm_up, gating);
  EXPECT_NEAR(gate[0][0].item<double>(), pre[0] * std::tanh(0.8), 1e-6);
  gating = {true, false};
  gate = cross_attention_gate(attention, *gate_proj, warm_up, gating);
  EXPECT_NEAR(gate[1][0].item<double>(), std::tanh(pre[1]), 1e-6);
}

// The hybrid attention block from the spec (section 7 steps 1-2) with explicit loops.
TEST(TextCrossAttention, HybridAttentionMatchesSpecFormulas) {
  const Config config = test::tiny_text_config();
  Attention attention(config, 0, true, torch::TensorOptions());
  init_random_parameters(*attention, 21);
  const int64_t length = 6, memory_len = 7, heads = 4, kv_heads = 2, dim = config.head_dim();
  const torch::Tensor hidden = test::random_tensor({length, config.hidden_size}, 22);
  const torch::Tensor memory = test::random_tensor({memory_len, config.hidden_size}, 23);
  const torch::Tensor is_text = test::prompt_token_types(2, 3, 1);  // rows 0, 1, 5 attend

  ForwardPass pass;
  pass.rope = rope_tables(0, length, dim, config.rope_theta, torch::kFloat32, torch::kCPU);
  pass.memory = memory;
  pass.cross_rows = cross_attention_rows(is_text, CrossAttentionScope{});
  KVCache cache;
  cache.reserve({1, kv_heads, dim}, length, torch::TensorOptions());
  RMSNorm unit_norm(config.hidden_size, 1e-6, torch::TensorOptions());
  const torch::Tensor normed_memory = unit_norm->forward(memory);
  const torch::Tensor out =
      attention->forward(hidden, pass, attention->memory_key_values(memory, *unit_norm), cache);

  // Reference.
  const auto linear = [](const torch::Tensor& x, const Linear& layer) {
    torch::Tensor y = x.matmul(layer->weight.t());
    return layer->bias.defined() ? y + layer->bias : y;
  };
  const torch::Tensor q =
      apply_rope(linear(hidden, attention->q_proj).view({length, heads, dim}), pass.rope);
  const torch::Tensor k =
      apply_rope(linear(hidden, attention->k_proj).view({length, kv_heads, dim}), pass.rope);
  const torch::Tensor v = linear(hidden, attention->v_proj).view({length, kv_heads, dim});
  torch::Tensor a = grouped_attention(q, k.transpose(0, 1), v.transpose(0, 1), 0);
  const torch::Tensor kv =
      linear(normed_memory, attention->cross_attn_kv_proj).view({memory_len, kv_heads, 2, dim});
  const double warm = std::tanh(attention->cross_attn_warm_up_gate.item<double>());
  torch::Tensor expected_a = a.clone();
  for (const int64_t t : {0, 1, 5}) {
    torch::Tensor c = torch::zeros({heads, dim});
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / (heads / kv_heads);
      const torch::Tensor keys = kv.select(1, g).select(1, 0);    // [M, D]
      const torch::Tensor values = kv.select(1, g).select(1, 1);  // [M, D]
      const torch::Tensor weights = torch::softmax(keys.matmul(q[t][h]) / std::sqrt(dim), 0);
      c[h] = weights.matmul(values);
    }
    const double gate =
        std::tanh(linear(a[t].unsqueeze(0), attention->cross_attn_gate)[0][0].item<double>()) *
        warm;
    expected_a[t] = a[t] + gate * c.flatten();
  }
  const torch::Tensor expected = expected_a.matmul(attention->o_proj->weight.t());
  EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-5))
      << "max difference " << (out - expected).abs().max().item<double>();
  // The cross-attention did change the text rows and left the visual rows alone.
  const torch::Tensor plain = a.matmul(attention->o_proj->weight.t());
  EXPECT_GT((out[0] - plain[0]).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::allclose(out.narrow(0, 2, 3), plain.narrow(0, 2, 3), 1e-6, 1e-6));
}

TEST(TextCrossAttention, ModulePathsOfAHybridBlock) {
  const Config config = test::tiny_text_config();
  Attention attention(config, 0, true, torch::TensorOptions());
  std::vector<std::string> names;
  for (const auto& item : attention->named_parameters()) names.push_back(item.key());
  std::sort(names.begin(), names.end());
  const std::vector<std::string> expected = {"cross_attn_gate_proj.0.bias",
                                             "cross_attn_gate_proj.0.weight",
                                             "cross_attn_kv_proj.bias",
                                             "cross_attn_kv_proj.weight",
                                             "cross_attn_warm_up_gate",
                                             "k_proj.bias",
                                             "k_proj.weight",
                                             "o_proj.weight",
                                             "q_proj.bias",
                                             "q_proj.weight",
                                             "v_proj.bias",
                                             "v_proj.weight"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(
      attention->cross_attn_kv_proj->weight.sizes(),
      torch::IntArrayRef({2 * config.num_key_value_heads * config.head_dim(), config.hidden_size}));
  EXPECT_EQ(attention->cross_attn_gate->weight.sizes(),
            torch::IntArrayRef({1, config.hidden_size}));
  EXPECT_EQ(attention->cross_attn_warm_up_gate.sizes(), torch::IntArrayRef({1}));
}

}  // namespace
}  // namespace slowfast
