// The bfloat16 SwiGLU activation (layers/bf16_silu) against libtorch's own silu_ and mul_.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include <torch/torch.h>

#include "layers/bf16_silu.h"
#include "slowfast.h"
#include "test_text_util.h"

namespace slowfast {
namespace {

// libtorch's result row by row: rows whose length is a multiple of 64 take its vectorised loop
// for every value, which is what the kernel's table holds.
torch::Tensor libtorch_rows(const torch::Tensor& gate, const torch::Tensor& up) {
  torch::Tensor out = gate.clone();
  for (int64_t row = 0; row < out.size(0); ++row) {
    torch::Tensor out_row = out[row];
    torch::silu_(out_row);
    out_row.mul_(up[row]);
  }
  return out;
}

TEST(TextSilu, EqualsLibtorchsSiluThenMultiplyForEveryRowCount) {
  c10::InferenceMode inference;
  // 1 and 8 rows: decode steps; 171: a window's prefill; widths of the golden, demo and
  // Qwen2-0.5B models. Values spread wide enough to reach silu's flat and linear ends.
  for (const int64_t width : {128, 384, 4864}) {
    for (const int64_t rows : {1, 8, 171}) {
      const torch::Tensor gate = (test::random_tensor({rows, width}, 101) * 6).to(torch::kBFloat16);
      const torch::Tensor up = (test::random_tensor({rows, width}, 102) * 3).to(torch::kBFloat16);
      torch::Tensor got = gate.clone();
      bf16_silu_multiply_(got, up);
      EXPECT_TRUE(torch::equal(got, libtorch_rows(gate, up))) << rows << "x" << width;
    }
  }
}

TEST(TextSilu, EveryBfloat16ValueIsLibtorchsSilu) {
  c10::InferenceMode inference;
  // All 65,536 bit patterns as rows of 64, times one (exact).
  const torch::Tensor gate =
      torch::arange(65536, torch::kInt32).to(torch::kInt16).view(torch::kBFloat16).view({-1, 64});
  const torch::Tensor up = torch::ones_like(gate);
  torch::Tensor got = gate.clone();
  bf16_silu_multiply_(got, up);
  const torch::Tensor want = libtorch_rows(gate, up);
  const torch::Tensor got32 = got.to(torch::kFloat32), want32 = want.to(torch::kFloat32);
  // NaN inputs give NaN (its bit pattern may differ); every other value is bit-identical.
  const torch::Tensor nan = want32.isnan();
  EXPECT_TRUE(torch::equal(got32.isnan(), nan));
  const torch::Tensor finite = nan.logical_not();
  EXPECT_TRUE(torch::equal(got.view(torch::kInt16).masked_select(finite),
                           want.view(torch::kInt16).masked_select(finite)));
}

TEST(TextSilu, ARowsValuesDoNotDependOnTheOtherRowsOrTheThreads) {
  c10::InferenceMode inference;
  const torch::Tensor gate = (test::random_tensor({171, 4864}, 103) * 4).to(torch::kBFloat16);
  const torch::Tensor up = test::random_tensor({171, 4864}, 104).to(torch::kBFloat16);
  torch::Tensor all = gate.clone();
  bf16_silu_multiply_(all, up);
  torch::Tensor one_row = gate[5].clone();
  bf16_silu_multiply_(one_row, up[5].contiguous());
  EXPECT_TRUE(torch::equal(one_row, all[5]));
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  torch::Tensor one_thread = gate.clone();
  bf16_silu_multiply_(one_thread, up);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one_thread, all));
}

TEST(TextSilu, RoundsTheProductOnceAndKeepsInfinitiesAndNan) {
  c10::InferenceMode inference;
  // silu(2) * 3 in float32, rounded once to bfloat16; a tail of 5 values past the 16-lane vector.
  torch::Tensor gate = torch::full({21}, 2.0, torch::kBFloat16);
  torch::Tensor up = torch::full({21}, 3.0, torch::kBFloat16);
  gate[17] = std::numeric_limits<float>::infinity();
  up[18] = std::numeric_limits<float>::quiet_NaN();
  const float silu2 = torch::silu(torch::full({64}, 2.0, torch::kBFloat16))[0].item<float>();
  bf16_silu_multiply_(gate, up);
  EXPECT_EQ(gate[0].item<float>(), static_cast<float>(at::BFloat16(silu2 * 3.0f)));
  EXPECT_EQ(gate[20].item<float>(), gate[0].item<float>());
  EXPECT_TRUE(std::isinf(gate[17].item<float>()));
  EXPECT_TRUE(std::isnan(gate[18].item<float>()));
}

TEST(TextSilu, RefusesWhatItDoesNotApplyToByName) {
  torch::Tensor gate32 = torch::zeros({2, 64});
  const torch::Tensor up = torch::zeros({2, 64}, torch::kBFloat16);
  EXPECT_FALSE(bf16_silu_multiply_applies(gate32, up));
  torch::Tensor strided = torch::zeros({64, 2}, torch::kBFloat16).t();
  EXPECT_FALSE(bf16_silu_multiply_applies(strided, up));
  torch::Tensor other_shape = torch::zeros({2, 32}, torch::kBFloat16);
  EXPECT_FALSE(bf16_silu_multiply_applies(other_shape, up));
  try {
    bf16_silu_multiply_(gate32, up);
    FAIL() << "no error for a float32 gate";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gate [2, 64] Float"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slowfast
