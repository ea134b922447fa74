// The AVX512-BF16 matrix-vector kernel against float64 references (skipped on CPUs without it).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "layers/bf16_gemv.h"
#include "layers/linear.h"
#include "slowfast.h"
#include "test_text_util.h"

namespace slowfast {
namespace {

#define SLOWFAST_REQUIRE_BF16_GEMV()                                              \
  if (!bf16_gemv_supported()) {                                                   \
    GTEST_SKIP() << "this CPU has no AVX512-BF16; the kernel is never used here"; \
  }

TEST(TextGemv, MatchesFloat64ReferenceIncludingTails) {
  SLOWFAST_REQUIRE_BF16_GEMV();
  // K = 77 leaves a 13-element tail after two full registers; N = 203 leaves 3 single rows.
  for (const auto& [rows, k] : {std::pair<int64_t, int64_t>{203, 77}, {64, 32}, {5, 1000}}) {
    const torch::Tensor weight = test::random_tensor({rows, k}, 81).to(torch::kBFloat16);
    const torch::Tensor x = test::random_tensor({k}, 82).to(torch::kBFloat16);
    const torch::Tensor bias = test::random_tensor({rows}, 83).to(torch::kBFloat16);
    const torch::Tensor out = bf16_gemv(x, weight, bias);
    ASSERT_EQ(out.scalar_type(), torch::kFloat32);
    // Products of bf16 values are exact in float32; only the float32 summation order differs.
    const torch::Tensor expected =
        weight.to(torch::kFloat64).matmul(x.to(torch::kFloat64)) + bias.to(torch::kFloat64);
    EXPECT_LT((out.to(torch::kFloat64) - expected).abs().max().item<double>(), 1e-4 * k)
        << rows << "x" << k;
  }
}

TEST(TextGemv, LinearUsesItForOneBfloat16RowAndRoundsLikeBfloat16) {
  SLOWFAST_REQUIRE_BF16_GEMV();
  Linear layer(96, 40, true, torch::TensorOptions().dtype(torch::kBFloat16));
  layer->weight.copy_(test::random_tensor({40, 96}, 84));
  layer->bias.copy_(test::random_tensor({40}, 85));
  const torch::Tensor x = test::random_tensor({1, 96}, 86).to(torch::kBFloat16);
  EXPECT_TRUE(bf16_gemv_applies(x, layer->weight));
  const torch::Tensor out = layer->forward(x);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({1, 40}));
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  const torch::Tensor reference = torch::nn::functional::linear(x, layer->weight, layer->bias);
  // Both round a float32 sum to bfloat16: at most one bf16 step apart (relative 2^-8).
  const torch::Tensor difference = (out.to(torch::kFloat32) - reference.to(torch::kFloat32)).abs();
  EXPECT_TRUE(
      (difference <= reference.to(torch::kFloat32).abs() * (1.0 / 128) + 1e-3).all().item<bool>());
}

TEST(TextGemv, SeveralRowsReadTheWeightsOnceAndEachEqualsItsRowAlone) {
  SLOWFAST_REQUIRE_BF16_GEMV();
  // 1..64 rows cover every group size (4, then the 1-3 left); K = 77 has a tail, N = 203 a
  // partial block of weight rows.
  const torch::Tensor weight = test::random_tensor({203, 77}, 87).to(torch::kBFloat16);
  const torch::Tensor bias = test::random_tensor({203}, 88).to(torch::kBFloat16);
  for (int64_t rows = 1; rows <= kBf16GemvMaxRows; ++rows) {
    const torch::Tensor x = test::random_tensor({rows, 77}, 89).to(torch::kBFloat16);
    ASSERT_TRUE(bf16_gemv_applies(x, weight));
    const torch::Tensor out = bf16_gemv(x, weight, bias);
    ASSERT_EQ(out.sizes(), torch::IntArrayRef({rows, 203}));
    for (int64_t r = 0; r < rows; ++r) {
      // Bit for bit: a sequence's decode step must not depend on the batch it is in.
      EXPECT_TRUE(torch::equal(out[r], bf16_gemv(x[r], weight, bias)))
          << rows << " rows, row " << r;
    }
  }
}

TEST(TextGemv, FmaPathIsBitIdenticalToTheDotProductPath) {
  SLOWFAST_REQUIRE_BF16_GEMV();
  // Tails (K = 77, 1000, 2200), an odd count of full registers (K = 96), both group sizes of the
  // dot-product path (K = 1100 takes groups of 4 rows), the FMA path's slices of K (K = 2200:
  // 1024 values, then the rest with its tail) and groups of 8 rows (9, 13), and values over the
  // whole bf16 range: tiny ones whose products are denormal (flushed by vdpbf16ps, and by the FMA
  // path through MXCSR) and large ones.
  for (const int64_t k : {77, 96, 1000, 1100, 2200}) {
    torch::Tensor weight = test::random_tensor({83, k}, 90);
    weight.narrow(0, 0, 10).mul_(1e-20);
    weight.narrow(0, 10, 10).mul_(1e18);
    weight = weight.to(torch::kBFloat16);
    for (const int64_t rows : {1, 3, 8, 9, 13}) {
      torch::Tensor x = test::random_tensor({rows, k}, 92 + rows);
      x.narrow(1, 0, k / 4).mul_(1e-20);
      x.narrow(0, 0, 1).mul_(1e-20);  // whole products and sums denormal against weight rows 0-9
      x = x.to(torch::kBFloat16);
      // No bias: it would hide a denormal sum flushed on one path and not on the other.
      const torch::Tensor dot = bf16_gemv(x, weight, {}, Bf16GemvPath::kDotProduct);
      const torch::Tensor fma = bf16_gemv(x, weight, {}, Bf16GemvPath::kFma);
      EXPECT_TRUE(torch::equal(dot, fma))
          << "K " << k << ", " << rows << " rows: largest difference "
          << (dot - fma).abs().max().item<double>();
    }
  }
  // MXCSR is the caller's again afterwards: denormals survive float32 arithmetic here.
  const torch::Tensor tiny = torch::full({1}, 1e-39f);
  EXPECT_GT((tiny * 1.0f).item<float>(), 0.0f);
}

TEST(TextGemv, LinearRoundsTheSumPlusBiasOnceAsTheFloat32ResultDoes) {
  SLOWFAST_REQUIRE_BF16_GEMV();
  const torch::Tensor weight = test::random_tensor({203, 77}, 96).to(torch::kBFloat16);
  const torch::Tensor bias = test::random_tensor({203}, 97).to(torch::kBFloat16);
  for (const int64_t rows : {1, 5, 8}) {
    const torch::Tensor x = test::random_tensor({rows, 77}, 98).to(torch::kBFloat16);
    for (const torch::Tensor& b : {bias, torch::Tensor()}) {
      const torch::Tensor fused = bf16_linear(x, weight, b);
      ASSERT_EQ(fused.scalar_type(), torch::kBFloat16);
      ASSERT_EQ(fused.sizes(), torch::IntArrayRef({rows, 203}));
      // Bit for bit what the float32 result gives once rounded: the decode steps' numbers stay.
      EXPECT_TRUE(torch::equal(fused, bf16_gemv(x, weight, b).to(torch::kBFloat16)))
          << rows << " rows, bias " << b.defined();
    }
  }
  // A non-contiguous bias and a 1-D x keep their meaning.
  const torch::Tensor strided_bias =
      test::random_tensor({203, 2}, 99).to(torch::kBFloat16).select(1, 1);
  const torch::Tensor row = test::random_tensor({77}, 100).to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bf16_linear(row, weight, strided_bias),
                           bf16_gemv(row, weight, strided_bias).to(torch::kBFloat16)));
}

TEST(TextGemv, AppliesOnlyToFewBfloat16Rows) {
  const torch::Tensor weight = torch::zeros({8, 16}, torch::kBFloat16);
  EXPECT_FALSE(
      bf16_gemv_applies(torch::zeros({kBf16GemvMaxRows + 1, 16}, torch::kBFloat16), weight));
  EXPECT_FALSE(bf16_gemv_applies(torch::zeros({2, 2, 16}, torch::kBFloat16), weight));
  EXPECT_FALSE(bf16_gemv_applies(torch::zeros({1, 16}), weight));
  EXPECT_FALSE(bf16_gemv_applies(torch::zeros({1, 15}, torch::kBFloat16), weight));
  EXPECT_FALSE(bf16_gemv_applies(torch::zeros({1, 8}, torch::kBFloat16), weight.t()));
  EXPECT_EQ(bf16_gemv_applies(torch::zeros({1, 16}, torch::kBFloat16), weight),
            bf16_gemv_supported());
  EXPECT_EQ(bf16_gemv_applies(torch::zeros({kBf16GemvMaxRows, 16}, torch::kBFloat16), weight),
            bf16_gemv_supported());
  EXPECT_THROW(bf16_gemv(torch::zeros({kBf16GemvMaxRows + 1, 16}, torch::kBFloat16), weight, {}),
               Error);
}

}  // namespace
}  // namespace slowfast
