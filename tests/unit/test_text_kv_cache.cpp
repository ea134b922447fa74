// The KV cache: in-place writes, growth, reuse, and that prefill + one-token steps through the
// cache reproduce one forward over the whole sequence.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "slowfast.h"
#include "test_text_util.h"
#include "text/kv_cache.h"
#include "text/qwen2.h"

namespace slowfast {
namespace {

constexpr double kTolerance = 1e-5;

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(TextKVCache, AppendsInPlaceAndReturnsTheWholePrefix) {
  KVCache cache;
  cache.reserve({2, 2, 3}, 8, torch::TensorOptions());
  EXPECT_EQ(cache.capacity(), 8);
  EXPECT_EQ(cache.bytes(), 2 * 2 * (2 * 8 * 3) * 4);
  const torch::Tensor k1 = torch::randn({2, 3, 3}), v1 = torch::randn({2, 3, 3});
  for (int64_t layer = 0; layer < 2; ++layer) cache.append(layer, k1, v1);
  cache.advance(3);
  const torch::Tensor k2 = torch::randn({2, 1, 3}), v2 = torch::randn({2, 1, 3});
  const auto [keys, values] = cache.append(1, k2, v2);
  ASSERT_EQ(keys.sizes(), torch::IntArrayRef({2, 4, 3}));
  EXPECT_TRUE(torch::equal(keys.narrow(1, 0, 3), k1));
  EXPECT_TRUE(torch::equal(keys.narrow(1, 3, 1), k2));
  EXPECT_TRUE(torch::equal(values, torch::cat({v1, v2}, 1)));
}

TEST(TextKVCache, GrowsKeepingContentAndIsReusedAfterReset) {
  KVCache cache;
  cache.reserve({1, 1, 2}, 2, torch::TensorOptions());
  const torch::Tensor k = torch::randn({1, 2, 2}), v = torch::randn({1, 2, 2});
  cache.append(0, k, v);
  cache.advance(2);
  cache.reserve({1, 1, 2}, 5, torch::TensorOptions());
  EXPECT_EQ(cache.capacity(), 5);
  EXPECT_EQ(cache.length(), 2);
  const auto [keys, values] = cache.append(0, torch::zeros({1, 1, 2}), torch::zeros({1, 1, 2}));
  EXPECT_TRUE(torch::equal(keys.narrow(1, 0, 2), k));
  EXPECT_TRUE(torch::equal(values.narrow(1, 0, 2), v));
  const void* buffer = keys.data_ptr();

  cache.reset();
  EXPECT_EQ(cache.length(), 0);
  cache.reserve({1, 1, 2}, 4, torch::TensorOptions());  // fits: no new buffer
  EXPECT_EQ(cache.capacity(), 5);
  EXPECT_EQ(cache.append(0, k, v).first.data_ptr(), buffer);
}

// append_row() copies a decode step's row straight into the buffers: the same cache as append()
// of that row, for every row of the step, in float32 and bfloat16, and through append() itself
// when the rows are not contiguous.
TEST(TextKVCache, AppendRowEqualsAppendOfThatRow) {
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (const bool contiguous : {true, false}) {
      const torch::TensorOptions options = torch::TensorOptions().dtype(dtype);
      const int64_t batch = 3, kv_heads = 2, head_dim = 5;
      torch::Tensor keys = torch::randn({batch, kv_heads, head_dim}).to(dtype);
      torch::Tensor values = torch::randn({batch, kv_heads, head_dim}).to(dtype);
      if (!contiguous) {
        keys = torch::randn({batch, head_dim, kv_heads}).to(dtype).transpose(1, 2);
        values = torch::randn({batch, head_dim, kv_heads}).to(dtype).transpose(1, 2);
      }
      for (int64_t row = 0; row < batch; ++row) {
        KVCache by_row, by_append;
        for (KVCache* cache : {&by_row, &by_append}) {
          cache->reserve({2, kv_heads, head_dim}, 6, options);
          for (int64_t layer = 0; layer < 2; ++layer) {
            cache->append(layer, torch::ones({kv_heads, 2, head_dim}, options),
                          torch::ones({kv_heads, 2, head_dim}, options));
          }
          cache->advance(2);
        }
        const auto [row_keys, row_values] = by_row.append_row(1, keys, values, row);
        const auto [want_keys, want_values] = by_append.append(
            1, keys.narrow(0, row, 1).transpose(0, 1), values.narrow(0, row, 1).transpose(0, 1));
        ASSERT_EQ(row_keys.sizes(), torch::IntArrayRef({kv_heads, 3, head_dim}));
        EXPECT_TRUE(torch::equal(row_keys, want_keys)) << "row " << row;
        EXPECT_TRUE(torch::equal(row_values, want_values)) << "row " << row;
        EXPECT_TRUE(torch::equal(row_keys.select(1, 2), keys[row])) << "row " << row;
      }
    }
  }
  KVCache full;
  full.reserve({1, 2, 5}, 1, torch::TensorOptions());
  full.advance(1);
  EXPECT_THROW(full.append_row(0, torch::zeros({1, 2, 5}), torch::zeros({1, 2, 5}), 0), Error);
}

TEST(TextKVCache, RefusesWritesPastCapacity) {
  KVCache cache;
  cache.reserve({1, 1, 2}, 2, torch::TensorOptions());
  EXPECT_THROW(cache.append(0, torch::zeros({1, 3, 2}), torch::zeros({1, 3, 2})), Error);
  EXPECT_THROW(cache.append(1, torch::zeros({1, 1, 2}), torch::zeros({1, 1, 2})), Error);
  EXPECT_THROW(cache.advance(3), Error);
}

// Steps of one token through the cache equal one forward over everything. With memory, the
// decoded tokens get no cross-attention, which in a single forward means marking them visual.
TEST(TextKVCache, PrefillThenSingleStepsEqualsOneForward) {
  const Config config = test::tiny_text_config();
  Qwen2Model model = test::random_model(config, 31);
  torch::InferenceMode inference;
  const int64_t prompt_len = 9, steps = 5;
  const torch::Tensor embeds = test::random_tensor({prompt_len + steps, config.hidden_size}, 32);
  const torch::Tensor memory = test::random_tensor({12, config.hidden_size}, 33);
  torch::Tensor is_text_all = test::prompt_token_types(3, 4, 2 + steps);
  is_text_all.narrow(0, prompt_len, steps).fill_(false);

  KVCache full_cache;
  const torch::Tensor full = model->forward(embeds, is_text_all, memory, full_cache);

  KVCache cache;
  const torch::Tensor prefill = model->forward(embeds.narrow(0, 0, prompt_len),
                                               is_text_all.narrow(0, 0, prompt_len), memory, cache);
  EXPECT_LT(max_difference(prefill, full.narrow(0, 0, prompt_len)), kTolerance);
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t position = prompt_len + step;
    EXPECT_EQ(cache.length(), position);
    const torch::Tensor out = model->forward(embeds.narrow(0, position, 1), {}, {}, cache);
    EXPECT_LT(max_difference(out, full.narrow(0, position, 1)), kTolerance) << "step " << step;
  }
  // Without memory: chunks of any size through the cache, plain Qwen2.
  KVCache plain_full_cache, chunk_cache;
  const torch::Tensor plain = model->forward(embeds, {}, {}, plain_full_cache);
  const torch::Tensor first = model->forward(embeds.narrow(0, 0, 4), {}, {}, chunk_cache);
  const torch::Tensor second = model->forward(embeds.narrow(0, 4, 6), {}, {}, chunk_cache);
  const torch::Tensor third = model->forward(embeds.narrow(0, 10, 4), {}, {}, chunk_cache);
  EXPECT_LT(max_difference(torch::cat({first, second, third}), plain), kTolerance);
}

TEST(TextKVCache, ReusedAcrossRequestsLikeAFreshCache) {
  const Config config = test::tiny_text_config();
  Qwen2Model model = test::random_model(config, 41);
  torch::InferenceMode inference;
  const torch::Tensor request_a = test::random_tensor({11, config.hidden_size}, 42);
  const torch::Tensor request_b = test::random_tensor({6, config.hidden_size}, 43);
  const torch::Tensor memory = test::random_tensor({5, config.hidden_size}, 44);
  const torch::Tensor types_a = test::prompt_token_types(2, 5, 4);
  const torch::Tensor types_b = test::prompt_token_types(1, 3, 2);

  KVCache fresh;
  const torch::Tensor expected = model->forward(request_b, types_b, memory, fresh);
  KVCache reused;
  model->forward(request_a, types_a, memory, reused);
  model->forward(request_a.narrow(0, 0, 1), {}, {}, reused);
  reused.reset();
  const torch::Tensor out = model->forward(request_b, types_b, memory, reused);
  EXPECT_EQ(reused.length(), 6);
  EXPECT_LT(max_difference(out, expected), 1e-6);
}

}  // namespace
}  // namespace slowfast
