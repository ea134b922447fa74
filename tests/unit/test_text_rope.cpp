// Rotary position embedding: frequencies, known values, and relative-position invariance.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "test_text_util.h"
#include "text/rope.h"

namespace slowfast {
namespace {

TEST(TextRope, InverseFrequenciesArePowersOfTheta) {
  const torch::Tensor inv_freq = rope_inverse_frequencies(8, 10000.0, torch::kCPU);
  ASSERT_EQ(inv_freq.sizes(), torch::IntArrayRef({4}));
  EXPECT_EQ(inv_freq.scalar_type(), torch::kFloat32);
  for (int64_t i = 0; i < 4; ++i) {
    const double expected = std::pow(10000.0, -2.0 * i / 8.0);
    EXPECT_NEAR(inv_freq[i].item<double>(), expected, 1e-6 * expected) << "i=" << i;
  }
}

TEST(TextRope, PositionZeroLeavesVectorsUnchanged) {
  const torch::Tensor x = test::random_tensor({1, 3, 8}, 1);
  const torch::Tensor rotated =
      apply_rope(x, rope_tables(0, 1, 8, 10000.0, torch::kFloat32, torch::kCPU));
  EXPECT_TRUE(torch::equal(rotated, x));
}

TEST(TextRope, PositionOneMatchesHandComputedRotation) {
  // D = 4, theta = 100: frequencies 1 and 0.1; dimension i pairs with i + 2 (rotate-half form).
  const double a = 0.3, b = -1.2, c = 2.0, d = 0.7;
  const torch::Tensor x = torch::tensor({a, b, c, d}, torch::kFloat32).view({1, 1, 4});
  const torch::Tensor rotated =
      apply_rope(x, rope_tables(1, 1, 4, 100.0, torch::kFloat32, torch::kCPU)).flatten();
  const double expected[4] = {
      a * std::cos(1.0) - c * std::sin(1.0), b * std::cos(0.1) - d * std::sin(0.1),
      c * std::cos(1.0) + a * std::sin(1.0), d * std::cos(0.1) + b * std::sin(0.1)};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(rotated[i].item<double>(), expected[i], 1e-6) << i;
}

TEST(TextRope, TablesCoverConsecutivePositions) {
  const RopeTables tables = rope_tables(5, 3, 4, 100.0, torch::kFloat32, torch::kCPU);
  ASSERT_EQ(tables.cos.sizes(), torch::IntArrayRef({3, 4}));
  for (int64_t row = 0; row < 3; ++row) {
    const double position = 5.0 + row;
    EXPECT_NEAR(tables.cos[row][0].item<double>(), std::cos(position), 1e-6);
    EXPECT_NEAR(tables.sin[row][1].item<double>(), std::sin(position * 0.1), 1e-6);
    EXPECT_NEAR(tables.sin[row][3].item<double>(), std::sin(position * 0.1), 1e-6);
  }
}

TEST(TextRope, DotProductDependsOnlyOnRelativePosition) {
  const torch::Tensor q = test::random_tensor({1, 1, 16}, 2);
  const torch::Tensor k = test::random_tensor({1, 1, 16}, 3);
  const auto rotated_dot = [&](int64_t q_pos, int64_t k_pos) {
    const auto table = [](int64_t pos) {
      return rope_tables(pos, 1, 16, 10000.0, torch::kFloat32, torch::kCPU);
    };
    return (apply_rope(q, table(q_pos)) * apply_rope(k, table(k_pos))).sum().item<double>();
  };
  const double base = rotated_dot(7, 3);
  EXPECT_NEAR(rotated_dot(7 + 100, 3 + 100), base, 1e-4);
  EXPECT_NEAR(rotated_dot(7 + 1234, 3 + 1234), base, 1e-4);
  // A different relative position gives a different product (the rotation does something).
  EXPECT_GT(std::abs(rotated_dot(9, 3) - base), 1e-3);
}

TEST(TextRope, Bfloat16TablesAreRoundedFloat32Tables) {
  const RopeTables f32 = rope_tables(0, 50, 8, 1e6, torch::kFloat32, torch::kCPU);
  const RopeTables bf16 = rope_tables(0, 50, 8, 1e6, torch::kBFloat16, torch::kCPU);
  EXPECT_EQ(bf16.cos.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bf16.cos, f32.cos.to(torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(bf16.sin, f32.sin.to(torch::kBFloat16)));
}

// libtorch's ops for the rotation, which the bfloat16 kernel must equal bit for bit.
torch::Tensor rope_by_ops(const torch::Tensor& x, const RopeTables& tables) {
  const int64_t half = x.size(-1) / 2;
  const torch::Tensor rotated_half =
      torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * tables.cos.unsqueeze(1) + rotated_half * tables.sin.unsqueeze(1);
}

TEST(TextRope, Bfloat16RotationEqualsLibtorchsOps) {
  c10::InferenceMode inference;
  // Decode steps (1 and 8 positions, each its own), a prompt continuing a cache; head sizes of
  // Qwen2 (64, 128), golden b (8) and one whose half is no multiple of the vector (20).
  struct Shape {
    int64_t positions, start, heads, dim;
  };
  for (const Shape shape : {Shape{1, 300, 14, 64}, Shape{8, 40, 2, 64}, Shape{171, 5, 14, 64},
                            Shape{3, 0, 28, 128}, Shape{20, 7, 4, 8}, Shape{9, 2, 3, 20}}) {
    const RopeTables tables =
        rope_tables(shape.start, shape.positions, shape.dim, 1e6, torch::kBFloat16, torch::kCPU);
    const torch::Tensor x =
        (torch::randn({shape.positions, shape.heads, shape.dim}) * 4).to(torch::kBFloat16);
    EXPECT_TRUE(torch::equal(apply_rope(x, tables), rope_by_ops(x, tables)))
        << shape.positions << " positions, " << shape.heads << " heads of " << shape.dim;
  }
}

}  // namespace
}  // namespace slowfast
