// Qwen2's RMSNorm: the fused bfloat16 kernel against libtorch's ops and a float64 reference, and
// the float32 and training paths, which keep libtorch's ops.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "test_text_util.h"
#include "text/rms_norm.h"

namespace slowfast {
namespace {

constexpr double kEps = 1e-6;

// The module's libtorch ops, step by step (what the kernel replaces for bfloat16).
torch::Tensor libtorch_norm(const torch::Tensor& x, const torch::Tensor& weight) {
  const torch::Tensor x32 = x.to(torch::kFloat32);
  const torch::Tensor inv_rms = torch::rsqrt(x32.pow(2).mean(-1, true) + kEps);
  return weight * (x32 * inv_rms).to(x.scalar_type());
}

RMSNorm bf16_norm(int64_t dim, uint64_t seed) {
  RMSNorm norm(dim, kEps, torch::TensorOptions().dtype(torch::kBFloat16));
  norm->weight.copy_(test::random_tensor({dim}, seed) * 0.5 + 1);
  return norm;
}

TEST(TextRmsNorm, Bfloat16AgreesWithLibtorchsOpsToOneStepInRareValues) {
  c10::InferenceMode inference;
  // A decode step's rows, a prompt's, and a width that is no multiple of the vector.
  struct Shape {
    int64_t rows, dim;
  };
  for (const Shape shape : {Shape{1, 896}, Shape{8, 896}, Shape{171, 896}, Shape{5, 100}}) {
    RMSNorm norm = bf16_norm(shape.dim, 110);
    const torch::Tensor x =
        (test::random_tensor({shape.rows, shape.dim}, 111) * 3).to(torch::kBFloat16);
    const torch::Tensor got = norm->forward(x).to(torch::kFloat32);
    const torch::Tensor want = libtorch_norm(x, norm->weight).to(torch::kFloat32);
    ASSERT_EQ(got.sizes(), want.sizes());
    // The sums of squares differ only in their order: a value may land one bfloat16 step away
    // (2^-7 relative at most) where the float32 product lies on a rounding boundary.
    const torch::Tensor differs = got.ne(want);
    EXPECT_TRUE(((got - want).abs() <= want.abs() * (1.0 / 128) + 1e-30).all().item<bool>())
        << shape.rows << "x" << shape.dim;
    EXPECT_LE(differs.sum().item<int64_t>(), std::max<int64_t>(1, got.numel() / 500))
        << shape.rows << "x" << shape.dim;
  }
}

TEST(TextRmsNorm, Bfloat16IsWithinTwoRoundingsOfTheFloat64Value) {
  c10::InferenceMode inference;
  RMSNorm norm = bf16_norm(896, 112);
  const torch::Tensor x = (test::random_tensor({16, 896}, 113) * 5).to(torch::kBFloat16);
  const torch::Tensor x64 = x.to(torch::kFloat64);
  const torch::Tensor exact =
      norm->weight.to(torch::kFloat64) * x64 * torch::rsqrt(x64.pow(2).mean(-1, true) + kEps);
  const torch::Tensor got = norm->forward(x).to(torch::kFloat64);
  // Two roundings to bfloat16 (before and after the scale), at most 2^-8 relative each.
  EXPECT_TRUE(((got - exact).abs() <= exact.abs() * (2.0 / 256 + 1e-6) + 1e-30).all().item<bool>())
      << ((got - exact).abs() / exact.abs().clamp_min(1e-30)).max().item<double>();
}

TEST(TextRmsNorm, ARowsResultDoesNotDependOnTheOtherRowsOrTheThreads) {
  c10::InferenceMode inference;
  RMSNorm norm = bf16_norm(896, 114);
  const torch::Tensor x = test::random_tensor({171, 896}, 115).to(torch::kBFloat16);
  const torch::Tensor all = norm->forward(x);
  EXPECT_TRUE(torch::equal(norm->forward(x.narrow(0, 100, 1)), all.narrow(0, 100, 1)));
  EXPECT_TRUE(torch::equal(norm->forward(x.narrow(0, 3, 8)), all.narrow(0, 3, 8)));
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const torch::Tensor one_thread = norm->forward(x);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one_thread, all));
}

TEST(TextRmsNorm, Float32AndTrainingKeepLibtorchsOps) {
  RMSNorm norm(64, kEps, torch::TensorOptions());
  norm->weight.copy_(test::random_tensor({64}, 116));
  const torch::Tensor x = test::random_tensor({4, 64}, 117);
  {
    c10::InferenceMode inference;
    EXPECT_TRUE(torch::equal(norm->forward(x), libtorch_norm(x, norm->weight)));
  }
  // With gradients on (the demo model's trainer) bfloat16 also takes the ops, which autograd
  // can differentiate.
  RMSNorm trained = bf16_norm(64, 118);
  trained->weight.set_requires_grad(true);
  const torch::Tensor x16 = x.to(torch::kBFloat16);
  const torch::Tensor out = trained->forward(x16);
  EXPECT_TRUE(out.requires_grad());
  EXPECT_TRUE(torch::equal(out, libtorch_norm(x16, trained->weight)));
}

}  // namespace
}  // namespace slowfast
