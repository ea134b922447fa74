// The float32-FMA kernel for many bfloat16 rows (prefills) against a scalar reference that sums
// the same products in the same order (skipped on CPUs where it is not used).
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include <torch/torch.h>

#include "layers/bf16_gemm.h"
#include "layers/bf16_gemv.h"
#include "layers/linear.h"
#include "slowfast.h"
#include "test_text_util.h"

namespace slowfast {
namespace {

bool gemm_used() {
  return bf16_gemm_applies(torch::zeros({kBf16GemvMaxRows + 1, 64}, torch::kBFloat16),
                           torch::zeros({64, 64}, torch::kBFloat16));
}

#define SLOWFAST_REQUIRE_BF16_GEMM() \
  if (!gemm_used()) GTEST_SKIP() << "this CPU is not one where the kernel is used";

// Each value as the kernel promises it: the float32 sum of the exact products in order of k,
// plus the bias, rounded once to bfloat16.
torch::Tensor sequential_reference(const torch::Tensor& x, const torch::Tensor& weight,
                                   const torch::Tensor& bias) {
  const torch::Tensor xs = x.to(torch::kFloat32).contiguous();
  const torch::Tensor ws = weight.to(torch::kFloat32).contiguous();
  const int64_t m = xs.size(0), k = xs.size(1), n = ws.size(0);
  const float* xd = xs.data_ptr<float>();
  const float* wd = ws.data_ptr<float>();
  torch::Tensor out = torch::empty({m, n}, torch::kBFloat16);
  at::BFloat16* od = out.data_ptr<at::BFloat16>();
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      float sum = 0.0f;
      for (int64_t i = 0; i < k; ++i) sum += xd[r * k + i] * wd[c * k + i];
      if (bias.defined()) sum += static_cast<float>(bias[c].item<at::BFloat16>());
      od[r * n + c] = at::BFloat16(sum);
    }
  }
  return out;
}

TEST(TextGemm, EqualsTheSequentialFloat32SumRoundedOnce) {
  SLOWFAST_REQUIRE_BF16_GEMM();
  // 65 rows: one more than bf16_gemv takes; 171 rows: a prefill, its last panel 32 wide and its
  // last 5 rows padding; N = 203: a tile of 3 weight rows; K = 77: a tail of 13 values;
  // 200 x 5000: K in 4 slices, the sums waiting between them.
  struct Shape {
    int64_t m, k, n;
  };
  for (const Shape& shape :
       {Shape{65, 64, 64}, Shape{171, 896, 203}, Shape{100, 77, 72}, Shape{200, 5000, 72}}) {
    const torch::Tensor x = test::random_tensor({shape.m, shape.k}, 91).to(torch::kBFloat16);
    const torch::Tensor weight = test::random_tensor({shape.n, shape.k}, 92).to(torch::kBFloat16);
    const torch::Tensor bias = test::random_tensor({shape.n}, 93).to(torch::kBFloat16);
    for (const bool with_bias : {true, false}) {
      const torch::Tensor b = with_bias ? bias : torch::Tensor();
      const torch::Tensor out = bf16_gemm_linear(x, weight, b);
      ASSERT_EQ(out.sizes(), torch::IntArrayRef({shape.m, shape.n}));
      ASSERT_EQ(out.scalar_type(), torch::kBFloat16);
      EXPECT_TRUE(torch::equal(out, sequential_reference(x, weight, b)))
          << shape.m << "x" << shape.k << "x" << shape.n << (with_bias ? " with bias" : "");
    }
  }
}

TEST(TextGemm, ARowsResultDoesNotDependOnTheOtherRowsOrTheThreads) {
  SLOWFAST_REQUIRE_BF16_GEMM();
  const torch::Tensor x = test::random_tensor({171, 896}, 94).to(torch::kBFloat16);
  const torch::Tensor weight = test::random_tensor({136, 896}, 95).to(torch::kBFloat16);
  const torch::Tensor all = bf16_gemm_linear(x, weight, {});
  EXPECT_TRUE(torch::equal(bf16_gemm_linear(x.slice(0, 90, 171), weight, {}), all.slice(0, 90)));
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const torch::Tensor one_thread = bf16_gemm_linear(x, weight, {});
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one_thread, all));
}

TEST(TextGemm, NanStaysInItsRowAndInfinitiesPropagate) {
  SLOWFAST_REQUIRE_BF16_GEMM();
  torch::Tensor x = test::random_tensor({80, 64}, 96).to(torch::kBFloat16);
  x[3][7] = std::numeric_limits<float>::quiet_NaN();
  x[5][0] = std::numeric_limits<float>::infinity();
  const torch::Tensor weight = torch::ones({64, 64}, torch::kBFloat16);
  const torch::Tensor out = bf16_gemm_linear(x, weight, {}).to(torch::kFloat32);
  EXPECT_TRUE(out[3].isnan().all().item<bool>());
  EXPECT_TRUE(out[5].isinf().all().item<bool>());
  EXPECT_TRUE(out.slice(0, 6).isfinite().all().item<bool>());
  EXPECT_TRUE(out.slice(0, 0, 3).isfinite().all().item<bool>());
}

TEST(TextGemm, LinearUsesItForManyBfloat16RowsWithinOneStepOfFloat64) {
  SLOWFAST_REQUIRE_BF16_GEMM();
  Linear layer(96, 80, true, torch::TensorOptions().dtype(torch::kBFloat16));
  layer->weight.copy_(test::random_tensor({80, 96}, 97));
  layer->bias.copy_(test::random_tensor({80}, 98));
  const torch::Tensor x = test::random_tensor({2, 90, 96}, 99).to(torch::kBFloat16);
  ASSERT_TRUE(bf16_gemm_applies(x, layer->weight));
  const torch::Tensor out = layer->forward(x);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({2, 90, 80}));
  EXPECT_TRUE(torch::equal(out, bf16_gemm_linear(x, layer->weight, layer->bias)));
  // One rounding of a float32 sum: within half a bf16 step (relative 2^-9) of the exact value,
  // plus the float32 sum's error. (oneDNN rounds the products before adding the bias, so it can
  // be a step further off: 33.5 against 33.69 here, where this gives 33.75.)
  const torch::Tensor reference = torch::nn::functional::linear(
      x.to(torch::kFloat64), layer->weight.to(torch::kFloat64), layer->bias.to(torch::kFloat64));
  const torch::Tensor difference = (out.to(torch::kFloat64) - reference).abs();
  EXPECT_TRUE((difference <= reference.abs() * (1.0 / 256) + 1e-4).all().item<bool>())
      << difference.max().item<double>();
}

TEST(TextGemm, AppliesOnlyToManyBfloat16RowsOfLargeEnoughProducts) {
  SLOWFAST_REQUIRE_BF16_GEMM();
  const torch::Tensor weight = torch::zeros({64, 64}, torch::kBFloat16);
  const auto rows = [](int64_t m, int64_t k) { return torch::zeros({m, k}, torch::kBFloat16); };
  EXPECT_TRUE(bf16_gemm_applies(rows(kBf16GemvMaxRows + 1, 64), weight));
  EXPECT_TRUE(bf16_gemm_applies(torch::zeros({5, 13, 64}, torch::kBFloat16), weight));
  EXPECT_FALSE(bf16_gemm_applies(rows(kBf16GemvMaxRows, 64), weight));
  EXPECT_FALSE(bf16_gemm_applies(torch::zeros({100, 64}), weight));
  EXPECT_FALSE(bf16_gemm_applies(rows(100, 64), weight.to(torch::kFloat32)));
  EXPECT_FALSE(bf16_gemm_applies(rows(100, 32), torch::zeros({64, 32}, torch::kBFloat16)));
  EXPECT_FALSE(bf16_gemm_applies(rows(100, 64), torch::zeros({32, 64}, torch::kBFloat16)));
  EXPECT_FALSE(bf16_gemm_applies(rows(100, 64), torch::zeros({64, 128}, torch::kBFloat16).t()));
  EXPECT_FALSE(bf16_gemm_applies(rows(100, 64).requires_grad_(), weight));
  EXPECT_THROW(bf16_gemm_linear(rows(10, 64), weight, {}), Error);
}

}  // namespace
}  // namespace slowfast
