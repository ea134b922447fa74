// Slow/fast token pooling: every path of spec section 5 on small hand-checkable tensors, plus
// parity with the reference's fast and slow tokens.
#include <gtest/gtest.h>

#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "slowfast.h"
#include "test_vision_util.h"
#include "tools/npy.h"
#include "vision/pooling.h"

namespace slowfast {
namespace {

Config pooling_config(int64_t sampling_stride, int64_t temporal_stride, int64_t min_fast_frames,
                      int64_t spatial_stride = 1) {
  Config config;
  config.fast_token_temporal_sampling_stride = sampling_stride;
  config.fast_token_temporal_stride = temporal_stride;
  config.min_fast_frames = min_fast_frames;
  config.fast_token_spatial_stride = spatial_stride;
  return config;
}

// [T, n, 2] where every token of frame t holds (value(t), -value(t)).
torch::Tensor frames_with_values(const std::vector<double>& values, int64_t tokens) {
  const torch::Tensor v = torch::tensor(values, torch::kFloat64).view({-1, 1, 1});
  return torch::cat({v, -v}, 2).expand({-1, tokens, 2}).to(torch::kFloat32).contiguous();
}

// The first channel of each output frame's tokens (all tokens of a frame are equal here).
std::vector<double> frame_values(const torch::Tensor& tokens, int64_t tokens_per_frame) {
  const torch::Tensor per_frame = tokens.view({-1, tokens_per_frame, 2});
  std::vector<double> values;
  for (int64_t f = 0; f < per_frame.size(0); ++f) {
    EXPECT_TRUE(torch::allclose(per_frame[f], per_frame[f][0].expand({tokens_per_frame, 2})));
    EXPECT_FLOAT_EQ(per_frame[f][0][1].item<float>(), -per_frame[f][0][0].item<float>());
    values.push_back(per_frame[f][0][0].item<double>());
  }
  return values;
}

void expect_values(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-5) << i;
}

TEST(VisionPooling, SpatialPoolAveragesTwoByTwoBlocks) {
  // One frame, a 4x4 grid whose token i holds i: blocks {0,1,4,5}, {2,3,6,7}, {8,9,12,13},
  // {10,11,14,15}.
  const torch::Tensor grid = torch::arange(16, torch::kFloat32).view({1, 16, 1});
  const torch::Tensor pooled = spatial_pool(grid, 2);
  ASSERT_EQ(pooled.sizes(), (c10::IntArrayRef{1, 4, 1}));
  EXPECT_TRUE(torch::allclose(pooled.flatten(), torch::tensor({2.5f, 4.5f, 10.5f, 12.5f})));
  EXPECT_TRUE(torch::equal(spatial_pool(grid, 1), grid));
}

TEST(VisionPooling, SpatialPoolFloorsOddGrids) {
  // 3x3 grid with stride 2 keeps only the top-left block {0, 1, 3, 4} (avg_pool2d floor mode).
  const torch::Tensor grid = torch::arange(9, torch::kFloat32).view({1, 9, 1});
  const torch::Tensor pooled = spatial_pool(grid, 2);
  ASSERT_EQ(pooled.sizes(), (c10::IntArrayRef{1, 1, 1}));
  EXPECT_FLOAT_EQ(pooled.item<float>(), 2.0f);
  EXPECT_THROW(spatial_pool(torch::zeros({1, 8, 1}), 2), Error);  // not a square grid
  EXPECT_THROW(spatial_pool(torch::zeros({1, 4, 1}), 3), Error);  // grid smaller than stride
  EXPECT_THROW(spatial_pool(torch::zeros({1, 4, 1}), 0), Error);
}

TEST(VisionPooling, SlowTokensAreFrameMajor) {
  const torch::Tensor tokens = torch::arange(12, torch::kFloat32).view({2, 3, 2});
  const torch::Tensor slow = slow_tokens(tokens);
  ASSERT_EQ(slow.sizes(), (c10::IntArrayRef{6, 2}));
  EXPECT_TRUE(torch::equal(slow, torch::arange(12, torch::kFloat32).view({6, 2})));
}

TEST(VisionPooling, TemporalRunsOfKFramesWhenEnoughRemain) {
  // 8 frames, k = 4, min 2: 8 // 4 = 2 >= 2 -> means of frames 0..3 and 4..7.
  const torch::Tensor pooled = frames_with_values({0, 1, 2, 3, 4, 5, 6, 7}, 4);
  const torch::Tensor fast = fast_tokens(pooled, pooling_config(1, 4, 2));
  ASSERT_EQ(fast.sizes(), (c10::IntArrayRef{8, 2}));
  expect_values(frame_values(fast, 4), {1.5, 5.5});
}

TEST(VisionPooling, ZeroPaddingNeverReachesTheFastTokens) {
  // T = 6, r = 4: the original pads two zero frames but keeps only indices range(6), and
  // avg_pool3d floors 6 // 4 = 1 run -> one frame, the mean of frames 0..3 (values 1..4).
  // Had the zeros been pooled there would be a second frame (5 + 6 + 0 + 0) / 4.
  const torch::Tensor pooled = frames_with_values({1, 2, 3, 4, 5, 6}, 1);
  expect_values(frame_values(fast_tokens(pooled, pooling_config(1, 4, 1)), 1), {2.5});
}

TEST(VisionPooling, AdaptivePoolingOverFiveFrames) {
  // 5 frames, k = 4, min 3: 5 // 4 = 1 < 3 -> adaptive pooling to min(5, 3) = 3 frames over
  // [0, 2), [1, 4), [3, 5): values t^2 = 0, 1, 4, 9, 16 -> 0.5, 14 / 3, 12.5.
  const torch::Tensor pooled = frames_with_values({0, 1, 4, 9, 16}, 2);
  expect_values(frame_values(fast_tokens(pooled, pooling_config(1, 4, 3)), 2),
                {0.5, 14.0 / 3.0, 12.5});
  // With min 16 the target is min(5, 16) = 5 frames: identity.
  expect_values(frame_values(fast_tokens(pooled, pooling_config(1, 4, 16)), 2), {0, 1, 4, 9, 16});
}

TEST(VisionPooling, AdaptiveTemporalPoolMatchesTorch) {
  torch::manual_seed(1);
  for (int64_t frames : {2, 5, 7, 42, 44, 63}) {
    for (int64_t out : {1, 3, 16}) {
      const torch::Tensor x = torch::randn({frames, 4, 3}, torch::kFloat64);
      // torch's adaptive_avg_pool1d over the time axis: [4 * 3, T] -> [4 * 3, out].
      const torch::Tensor reference =
          torch::adaptive_avg_pool1d(x.permute({1, 2, 0}).reshape({1, 12, frames}), {out})
              .reshape({4, 3, out})
              .permute({2, 0, 1});
      EXPECT_TRUE(torch::allclose(adaptive_temporal_pool(x, out), reference, 1e-12, 1e-12))
          << frames << " -> " << out;
    }
  }
}

TEST(VisionPooling, SamplingStrideIndices) {
  // 40 frames, stride 2, min 16: n = max(20, 16) = 20, step 2.
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 20; ++i) expected.push_back(2 * i);
  EXPECT_EQ(fast_frame_indices(40, 2, 16), expected);
  // 20 frames: n = max(10, 16) = 16, step 1.25 -> int(i * 1.25).
  EXPECT_EQ(fast_frame_indices(20, 2, 16),
            (std::vector<int64_t>{0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18}));
  // Fewer frames than min_fast_frames: all of them.
  EXPECT_EQ(fast_frame_indices(5, 2, 16), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // 9 frames, stride 4, min 1: n = 2, step 4.5 -> 0, 4.
  EXPECT_EQ(fast_frame_indices(9, 4, 1), (std::vector<int64_t>{0, 4}));
}

TEST(VisionPooling, SamplingStrideThenTemporalRuns) {
  // 8 frames, sampling 2, k = 2, min 2: frames 0, 2, 4, 6, then runs (0, 2) and (4, 6).
  const torch::Tensor pooled = frames_with_values({0, 1, 2, 3, 4, 5, 6, 7}, 1);
  expect_values(frame_values(fast_tokens(pooled, pooling_config(2, 2, 2)), 1), {1, 5});
  // Without temporal pooling (k = 1) the sampled frames pass through.
  expect_values(frame_values(fast_tokens(pooled, pooling_config(2, 1, 2)), 1), {0, 2, 4, 6});
}

TEST(VisionPooling, FastSpatialStride) {
  // 2 frames of a 2x2 grid, no temporal pooling, spatial stride 2 -> one token per frame.
  const torch::Tensor pooled = torch::arange(8, torch::kFloat32).view({2, 4, 1});
  const torch::Tensor fast = fast_tokens(pooled, pooling_config(1, 1, 1, 2));
  ASSERT_EQ(fast.sizes(), (c10::IntArrayRef{2, 1}));
  EXPECT_TRUE(torch::allclose(fast.flatten(), torch::tensor({1.5f, 5.5f})));
}

TEST(VisionPooling, SingleFrameIsAnImage) {
  // The image path pools only by fast_token_spatial_stride; slow tokens stay unpooled.
  const torch::Tensor unpooled = torch::arange(16, torch::kFloat32).view({1, 16, 1});
  SlowFastTokens tokens = split_slow_fast(unpooled, pooling_config(1, 4, 16, 2));
  ASSERT_EQ(tokens.fast.sizes(), (c10::IntArrayRef{4, 1}));
  EXPECT_TRUE(torch::allclose(tokens.fast.flatten(), torch::tensor({2.5f, 4.5f, 10.5f, 12.5f})));
  EXPECT_TRUE(torch::equal(tokens.slow, unpooled.view({16, 1})));
  tokens = split_slow_fast(unpooled, pooling_config(1, 4, 16, 1));
  EXPECT_TRUE(torch::equal(tokens.fast, unpooled.view({16, 1})));
  EXPECT_THROW(fast_tokens(unpooled, pooling_config(1, 4, 16)), Error);
}

TEST(VisionPooling, RejectsBadSettings) {
  const torch::Tensor pooled = torch::zeros({4, 4, 2});
  EXPECT_THROW(fast_tokens(pooled, pooling_config(0, 4, 16)), Error);
  EXPECT_THROW(fast_tokens(pooled, pooling_config(1, 0, 16)), Error);
  EXPECT_THROW(fast_tokens(pooled, pooling_config(1, 4, 0)), Error);
  EXPECT_THROW(fast_tokens(torch::zeros({4, 4}), pooling_config(1, 4, 16)), Error);
  EXPECT_THROW(slow_tokens(torch::Tensor()), Error);
}

// Golden: the reference's vision features -> spatial pooling -> fast and slow tokens.
void expect_golden_tokens(const std::string& dir) {
  const Config config = load_config(dir + "/model/config.json");
  const torch::Tensor features = read_npy(dir + "/expected/vision_features.npy");
  const torch::Tensor pooled = spatial_pool(features, config.mm_video_pooling_stride);
  const SlowFastTokens tokens = split_slow_fast(pooled, config);
  const torch::Tensor fast = read_npy(dir + "/expected/fast_tokens.npy");
  const torch::Tensor slow = read_npy(dir + "/expected/slow_tokens.npy");
  ASSERT_EQ(tokens.fast.sizes(), fast.sizes());
  ASSERT_EQ(tokens.slow.sizes(), slow.sizes());
  EXPECT_LE(test::rel_l2(tokens.fast, fast), test::kGoldenRelL2);
  EXPECT_LE(test::rel_l2(tokens.slow, slow), test::kGoldenRelL2);
}

TEST(VisionPooling, GoldenA_RunsOfFourFrames) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "a");
  expect_golden_tokens(dir);
}

TEST(VisionPooling, GoldenB_AdaptivePoolingOf42Frames) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "b");
  expect_golden_tokens(dir);
}

}  // namespace
}  // namespace slowfast
