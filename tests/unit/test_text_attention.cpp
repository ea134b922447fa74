// Grouped-query attention: head mapping, causal mask, scale, blocking, against a per-head loop;
// the decode-step attention over several caches against the same loop and against each row alone;
// a bfloat16 prompt's attention through the decode kernel, row by row.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "slowfast.h"
#include "test_text_util.h"
#include "text/decode_attention.h"
#include "text/grouped_attention.h"

namespace slowfast {
namespace {

// One head and one row at a time in float64, straight from the definition.
torch::Tensor reference_attention(const torch::Tensor& query, const torch::Tensor& key,
                                  const torch::Tensor& value, int64_t causal_offset) {
  const int64_t rows = query.size(0), heads = query.size(1), dim = query.size(2);
  const int64_t groups = heads / key.size(0);
  torch::Tensor out = torch::zeros({rows, heads, dim}, torch::kFloat64);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t visible = causal_offset < 0 ? key.size(1) : causal_offset + i + 1;
    for (int64_t h = 0; h < heads; ++h) {
      const torch::Tensor k = key[h / groups].narrow(0, 0, visible).to(torch::kFloat64);
      const torch::Tensor v = value[h / groups].narrow(0, 0, visible).to(torch::kFloat64);
      const torch::Tensor scores = k.matmul(query[i][h].to(torch::kFloat64)) / std::sqrt(dim);
      out[i][h] = torch::softmax(scores, 0).matmul(v);
    }
  }
  return out.view({rows, heads * dim});
}

TEST(TextAttention, QueryHeadReadsKvHeadOfItsGroup) {
  // 4 query heads over 2 kv heads and a single key: each head's output is its kv head's value.
  // Heads 0, 1 -> kv head 0 and heads 2, 3 -> kv head 1 (not h % kv_heads).
  const torch::Tensor query = torch::randn({1, 4, 2});
  const torch::Tensor key = torch::randn({2, 1, 2});
  const torch::Tensor value = torch::tensor({1.0f, 1.0f, 2.0f, 2.0f}).view({2, 1, 2});
  const torch::Tensor out = grouped_attention(query, key, value, kAttendAllKeys).view({4, 2});
  EXPECT_TRUE(
      torch::equal(out, torch::tensor({1.f, 1.f, 1.f, 1.f, 2.f, 2.f, 2.f, 2.f}).view({4, 2})));
}

TEST(TextAttention, ScoresAreScaledByInverseSqrtHeadDim) {
  // q = [1, 0], keys [3, 0] and [0, 0]: weights softmax([3/sqrt(2), 0]).
  const torch::Tensor query = torch::tensor({1.0f, 0.0f}).view({1, 1, 2});
  const torch::Tensor key = torch::tensor({3.0f, 0.0f, 0.0f, 0.0f}).view({1, 2, 2});
  const torch::Tensor value = torch::tensor({10.0f, 0.0f, 0.0f, 20.0f}).view({1, 2, 2});
  const torch::Tensor out = grouped_attention(query, key, value, kAttendAllKeys).flatten();
  const double e = std::exp(3.0 / std::sqrt(2.0));
  EXPECT_NEAR(out[0].item<double>(), 10.0 * e / (e + 1.0), 1e-5);
  EXPECT_NEAR(out[1].item<double>(), 20.0 / (e + 1.0), 1e-5);
}

TEST(TextAttention, CausalFirstRowSeesOnlyFirstKey) {
  const torch::Tensor query = test::random_tensor({3, 2, 4}, 1);
  const torch::Tensor key = test::random_tensor({1, 3, 4}, 2);
  const torch::Tensor value = test::random_tensor({1, 3, 4}, 3);
  const torch::Tensor out = grouped_attention(query, key, value, 0).view({3, 2, 4});
  EXPECT_TRUE(torch::allclose(out[0][0], value[0][0], 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(out[0][1], value[0][0], 1e-6, 1e-6));
  // The last row sees all three keys, so it differs from the first key's value.
  EXPECT_FALSE(torch::allclose(out[2][0], value[0][0], 1e-3, 1e-3));
}

TEST(TextAttention, MatchesPerHeadReferenceWithCacheOffset) {
  // 5 new rows after 4 cached positions: row i sees keys 0 .. 4 + i.
  const torch::Tensor query = test::random_tensor({5, 6, 8}, 4);
  const torch::Tensor key = test::random_tensor({2, 9, 8}, 5);
  const torch::Tensor value = test::random_tensor({2, 9, 8}, 6);
  const torch::Tensor expected = reference_attention(query, key, value, 4);
  EXPECT_TRUE(torch::allclose(grouped_attention(query, key, value, 4).to(torch::kFloat64), expected,
                              1e-5, 1e-5));
}

TEST(TextAttention, BlockedRowsGiveTheSameResult) {
  // A budget of 6 heads x 9 keys x 2 rows forces blocks of 2 rows (3 blocks for 5 rows).
  const torch::Tensor query = test::random_tensor({5, 6, 8}, 7);
  const torch::Tensor key = test::random_tensor({3, 9, 8}, 8);
  const torch::Tensor value = test::random_tensor({3, 9, 8}, 9);
  for (const int64_t offset : {int64_t{4}, kAttendAllKeys}) {
    const torch::Tensor whole = grouped_attention(query, key, value, offset);
    const torch::Tensor blocked = grouped_attention(query, key, value, offset, 6 * 9 * 2);
    EXPECT_TRUE(torch::allclose(whole, blocked, 1e-6, 1e-6)) << "offset " << offset;
    EXPECT_TRUE(torch::allclose(blocked.to(torch::kFloat64),
                                reference_attention(query, key, value, offset), 1e-5, 1e-5));
  }
}

TEST(TextAttention, Bfloat16StaysCloseToFloat32) {
  const torch::Tensor query = test::random_tensor({7, 4, 16}, 10);
  const torch::Tensor key = test::random_tensor({2, 7, 16}, 11);
  const torch::Tensor value = test::random_tensor({2, 7, 16}, 12);
  const torch::Tensor f32 = grouped_attention(query, key, value, 0);
  const torch::Tensor bf16 = grouped_attention(query.to(torch::kBFloat16), key.to(torch::kBFloat16),
                                               value.to(torch::kBFloat16), 0);
  EXPECT_EQ(bf16.scalar_type(), torch::kBFloat16);
  EXPECT_LT((bf16.to(torch::kFloat32) - f32).norm().item<double>() / f32.norm().item<double>(),
            3e-2);
}

TEST(TextAttention, RejectsIncompatibleShapes) {
  const torch::Tensor query = torch::randn({2, 3, 4});  // 3 heads cannot share 2 kv heads
  const torch::Tensor kv = torch::randn({2, 2, 4});
  EXPECT_THROW(grouped_attention(query, kv, kv, 0), Error);
  EXPECT_THROW(grouped_attention(torch::randn({2, 4, 4}), kv, torch::randn({2, 3, 4}), 0), Error);
}

// Keys and values of `lengths.size()` sequences as a decode step sees them: views of the first
// L_b positions of a longer cache buffer [KVH, capacity, D].
struct DecodeCaches {
  std::vector<torch::Tensor> keys, values;
};
DecodeCaches decode_caches(const std::vector<int64_t>& lengths, int64_t kv_heads, int64_t dim,
                           uint64_t seed, torch::ScalarType dtype) {
  DecodeCaches caches;
  for (size_t b = 0; b < lengths.size(); ++b) {
    const torch::Tensor key = test::random_tensor({kv_heads, lengths[b] + 5, dim}, seed + 2 * b);
    const torch::Tensor value =
        test::random_tensor({kv_heads, lengths[b] + 5, dim}, seed + 2 * b + 1);
    caches.keys.push_back(key.to(dtype).narrow(1, 0, lengths[b]));
    caches.values.push_back(value.to(dtype).narrow(1, 0, lengths[b]));
  }
  return caches;
}

TEST(TextDecodeAttention, EachRowMatchesTheReferenceOverItsOwnCache) {
  // Head dimensions below, at and between register widths (Qwen2: 64 and 128; golden b: 8).
  const std::vector<int64_t> lengths = {1, 37, 300};
  for (const int64_t dim : {8, 16, 20, 64, 128}) {
    for (const int64_t groups : {1, 3, 7}) {
      SCOPED_TRACE("head dim " + std::to_string(dim) + ", groups " + std::to_string(groups));
      const int64_t kv_heads = 2, heads = kv_heads * groups;
      const torch::Tensor queries = test::random_tensor({3, heads, dim}, 20 + dim + groups);
      const DecodeCaches f32 = decode_caches(lengths, kv_heads, dim, 40, torch::kFloat32);
      const torch::Tensor out = decode_attention(queries, f32.keys, f32.values);
      ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3, heads * dim}));
      const DecodeCaches bf16 = decode_caches(lengths, kv_heads, dim, 40, torch::kBFloat16);
      const torch::Tensor out16 =
          decode_attention(queries.to(torch::kBFloat16), bf16.keys, bf16.values);
      EXPECT_EQ(out16.scalar_type(), torch::kBFloat16);
      for (size_t b = 0; b < lengths.size(); ++b) {
        const torch::Tensor expected = reference_attention(queries.narrow(0, b, 1), f32.keys[b],
                                                           f32.values[b], kAttendAllKeys);
        EXPECT_TRUE(torch::allclose(out.narrow(0, b, 1).to(torch::kFloat64), expected, 1e-5, 1e-6))
            << "row " << b;
        const torch::Tensor expected16 =
            reference_attention(queries.narrow(0, b, 1).to(torch::kBFloat16), bf16.keys[b],
                                bf16.values[b], kAttendAllKeys);
        const double error =
            (out16.narrow(0, b, 1).to(torch::kFloat64) - expected16).norm().item<double>() /
            expected16.norm().item<double>();
        EXPECT_LT(error, 1e-2) << "bfloat16 row " << b;  // the output's own rounding, 2^-9
      }
    }
  }
}

TEST(TextDecodeAttention, ARowDecodedWithOthersEqualsThatRowAlone) {
  const std::vector<int64_t> lengths = {9, 1, 130, 64, 17};
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    const torch::Tensor queries = test::random_tensor({5, 14, 64}, 60).to(dtype);
    const DecodeCaches caches = decode_caches(lengths, 2, 64, 70, dtype);
    const torch::Tensor together = decode_attention(queries, caches.keys, caches.values);
    for (size_t b = 0; b < lengths.size(); ++b) {
      const torch::Tensor alone =
          decode_attention(queries.narrow(0, b, 1), {caches.keys[b]}, {caches.values[b]});
      EXPECT_TRUE(torch::equal(together.narrow(0, b, 1), alone)) << "row " << b;
    }
  }
}

TEST(TextDecodeAttention, RejectsCachesThatDoNotMatchTheQueries) {
  const torch::Tensor queries = torch::randn({2, 4, 8});
  const torch::Tensor kv = torch::randn({2, 5, 8});
  EXPECT_THROW(decode_attention(queries, {kv}, {kv}), Error);  // 1 cache, 2 rows
  EXPECT_THROW(decode_attention(queries, {kv, torch::randn({2, 5, 6})}, {kv, kv}), Error);  // D
  EXPECT_THROW(decode_attention(torch::randn({2, 3, 8}), {kv, kv}, {kv, kv}),
               Error);  // 3 heads, 2 kv
  EXPECT_THROW(
      decode_attention(queries, {kv, torch::randn({2, 0, 8})}, {kv, torch::randn({2, 0, 8})}),
      Error);  // an empty cache
}

bool attention_kernel_used() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

// A prompt of 40 rows continuing a cache of 5 positions (Qwen2-0.5B's 14 heads over 2, D = 64),
// the keys and values views of a longer cache as in a prefill.
struct PromptCase {
  torch::Tensor query, key, value;
};

PromptCase prompt_case(torch::ScalarType dtype) {
  PromptCase prompt;
  prompt.query = test::random_tensor({40, 14, 64}, 80).to(dtype);
  prompt.key = test::random_tensor({2, 60, 64}, 81).to(dtype).narrow(1, 0, 45);
  prompt.value = test::random_tensor({2, 60, 64}, 82).to(dtype).narrow(1, 0, 45);
  return prompt;
}

TEST(TextPromptAttention, EachRowIsWhatADecodeStepComputesForIt) {
  if (!attention_kernel_used()) GTEST_SKIP() << "no AVX512: prompts take grouped_attention()";
  const PromptCase prompt = prompt_case(torch::kBFloat16);
  for (const int64_t offset : {int64_t{5}, kAttendAllKeys}) {
    SCOPED_TRACE("causal offset " + std::to_string(offset));
    const torch::Tensor out = prompt_attention(prompt.query, prompt.key, prompt.value, offset);
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{40, 14 * 64}));
    ASSERT_EQ(out.scalar_type(), torch::kBFloat16);
    for (int64_t row = 0; row < 40; ++row) {
      const int64_t visible = offset < 0 ? 45 : offset + row + 1;
      const torch::Tensor step =
          decode_attention(prompt.query.narrow(0, row, 1), {prompt.key.narrow(1, 0, visible)},
                           {prompt.value.narrow(1, 0, visible)});
      EXPECT_TRUE(torch::equal(out.narrow(0, row, 1), step)) << "row " << row;
    }
  }
}

TEST(TextPromptAttention, Bfloat16StaysWithinItsRoundingOfTheFloat64Reference) {
  const PromptCase prompt = prompt_case(torch::kBFloat16);
  for (const int64_t offset : {int64_t{5}, kAttendAllKeys}) {
    const torch::Tensor out = prompt_attention(prompt.query, prompt.key, prompt.value, offset);
    const torch::Tensor expected =
        reference_attention(prompt.query, prompt.key, prompt.value, offset);
    for (int64_t row = 0; row < 40; ++row) {
      const torch::Tensor want = expected.narrow(0, row, 1);
      const double error =
          (out.narrow(0, row, 1).to(torch::kFloat64) - want).norm().item<double>() /
          want.norm().item<double>();
      // The result's one rounding to bfloat16 (2^-9 relative) and float32 sums.
      EXPECT_LT(error, 4e-3) << "row " << row << ", causal offset " << offset;
    }
  }
}

TEST(TextPromptAttention, ThreadsDoNotChangeTheResult) {
  const PromptCase prompt = prompt_case(torch::kBFloat16);
  const torch::Tensor all = prompt_attention(prompt.query, prompt.key, prompt.value, 5);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const torch::Tensor one_thread = prompt_attention(prompt.query, prompt.key, prompt.value, 5);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one_thread, all));
}

TEST(TextPromptAttention, Float32KeepsGroupedAttention) {
  const PromptCase prompt = prompt_case(torch::kFloat32);
  EXPECT_TRUE(torch::equal(prompt_attention(prompt.query, prompt.key, prompt.value, 5),
                           grouped_attention(prompt.query, prompt.key, prompt.value, 5)));
}

}  // namespace
}  // namespace slowfast
