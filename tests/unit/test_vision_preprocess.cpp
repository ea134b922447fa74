// Pillow-compatible resizing and CLIP preprocessing: hand-computed cases and golden parity.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

#include <torch/torch.h>

#include "slowfast.h"
#include "test_vision_util.h"
#include "tools/npy.h"
#include "vision/preprocess.h"
#include "vision/resample.h"

namespace slowfast {
namespace {

// Packs per-channel rows into an RGB image of the given size (row-major, 3 bytes per pixel).
std::vector<uint8_t> rgb_image(int width, int height, const std::vector<int>& r,
                               const std::vector<int>& g, const std::vector<int>& b) {
  std::vector<uint8_t> image(static_cast<size_t>(width) * height * 3);
  for (int i = 0; i < width * height; ++i) {
    image[i * 3 + 0] = static_cast<uint8_t>(r[i]);
    image[i * 3 + 1] = static_cast<uint8_t>(g[i]);
    image[i * 3 + 2] = static_cast<uint8_t>(b[i]);
  }
  return image;
}

std::vector<uint8_t> resize(const std::vector<uint8_t>& image, int width, int height, int out_width,
                            int out_height) {
  std::vector<uint8_t> out(static_cast<size_t>(out_width) * out_height * 3);
  resize_bicubic_pil(FrameView{image.data(), width, height, width * 3}, out_width, out_height,
                     PixelRect{0, 0, out_width, out_height}, out.data());
  return out;
}

std::vector<int> channel(const std::vector<uint8_t>& image, int c) {
  std::vector<int> values;
  for (size_t i = c; i < image.size(); i += 3) values.push_back(image[i]);
  return values;
}

// Shrinking 4 -> 2 pixels: scale 2 widens the bicubic kernel to 4 pixels either side. Output 0 is
// centred at 1.0 and reads pixels 0..3 at distances (x - 0.5) / 2 = -0.25, 0.25, 0.75, 1.25:
// kernel weights 0.8671875, 0.8671875, 0.2265625, -0.0703125 (sum 1.890625), so
// [10, 20, 30, 40] -> 30 / 1.890625 = 15.87 -> 16, and output 1 (mirrored weights)
// -> 64.53125 / 1.890625 = 34.13 -> 34.
TEST(VisionResample, HorizontalShrinkMatchesHandComputedPillowWeights) {
  const auto image = rgb_image(4, 1, {10, 20, 30, 40}, {40, 30, 20, 10}, {100, 100, 100, 100});
  const auto out = resize(image, 4, 1, 2, 1);
  EXPECT_EQ(channel(out, 0), (std::vector<int>{16, 34}));
  EXPECT_EQ(channel(out, 1), (std::vector<int>{34, 16}));
  EXPECT_EQ(channel(out, 2), (std::vector<int>{100, 100}));
}

TEST(VisionResample, VerticalShrinkUsesTheSameWeights) {
  const auto image = rgb_image(1, 4, {10, 20, 30, 40}, {40, 30, 20, 10}, {7, 7, 7, 7});
  const auto out = resize(image, 1, 4, 1, 2);
  EXPECT_EQ(channel(out, 0), (std::vector<int>{16, 34}));
  EXPECT_EQ(channel(out, 1), (std::vector<int>{34, 16}));
  EXPECT_EQ(channel(out, 2), (std::vector<int>{7, 7}));
}

// Enlarging 2 -> 4 pixels: the kernel keeps its width. Output 0 (centre 0.25) weighs pixels 0, 1
// by 0.8671875, -0.0703125 (normalised 1.0882, -0.0882): [0, 255] -> -22.5, clipped to 0.
// Output 1 (centre 0.75): 0.8671875, 0.2265625 -> 255 * 0.2071 = 52.8 -> 53. Outputs 2 and 3
// mirror them: 202.2 -> 202 and 277.5 -> 255 (clipped).
TEST(VisionResample, EnlargeOvershootsAndClipsToUint8) {
  const auto image = rgb_image(2, 1, {0, 255}, {255, 0}, {50, 50});
  const auto out = resize(image, 2, 1, 4, 1);
  EXPECT_EQ(channel(out, 0), (std::vector<int>{0, 53, 202, 255}));
  EXPECT_EQ(channel(out, 1), (std::vector<int>{255, 202, 53, 0}));
  EXPECT_EQ(channel(out, 2), (std::vector<int>{50, 50, 50, 50}));
}

TEST(VisionResample, SameSizeCopiesAndRegionEqualsCropOfFullResize) {
  torch::manual_seed(3);
  const torch::Tensor random = torch::randint(0, 256, {9, 13, 3}, torch::kUInt8);
  std::vector<uint8_t> image(random.data_ptr<uint8_t>(), random.data_ptr<uint8_t>() + 9 * 13 * 3);
  EXPECT_EQ(resize(image, 13, 9, 13, 9), image);

  // Resize to 7x5, then compare the 3x2 window at (2, 1) with a region-only resize.
  const auto full = resize(image, 13, 9, 7, 5);
  std::vector<uint8_t> region(3 * 2 * 3);
  resize_bicubic_pil(FrameView{image.data(), 13, 9, 13 * 3}, 7, 5, PixelRect{2, 1, 3, 2},
                     region.data());
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3 * 3; ++x) {
      EXPECT_EQ(region[y * 9 + x], full[(y + 1) * 7 * 3 + 2 * 3 + x]) << "y " << y << " x " << x;
    }
  }
}

TEST(VisionResample, FixedPointWeightsSumToOne) {
  const ResampleAxis axis = bicubic_axis(1920, 576, 0, 576);
  EXPECT_EQ(axis.kernel_size, static_cast<int>(std::ceil(2.0 * 1920 / 576)) * 2 + 1);
  for (int i = 0; i < 576; ++i) {
    int64_t sum = 0;
    for (int k = 0; k < axis.taps[i]; ++k) sum += axis.weights[i * axis.kernel_size + k];
    // Each weight is rounded on its own: the sum is within a few units of 2^22.
    EXPECT_NEAR(static_cast<double>(sum), double(1 << kResamplePrecisionBits), 8.0) << i;
  }
}

TEST(VisionResample, RejectsBadInput) {
  std::vector<uint8_t> image(12, 0);
  EXPECT_THROW(
      resize_bicubic_pil(FrameView{nullptr, 2, 2, 6}, 2, 2, PixelRect{0, 0, 2, 2}, image.data()),
      Error);
  EXPECT_THROW(resize_bicubic_pil(FrameView{image.data(), 2, 2, 5}, 2, 2, PixelRect{0, 0, 2, 2},
                                  image.data()),
               Error);
  EXPECT_THROW(resize_bicubic_pil(FrameView{image.data(), 2, 2, 6}, 2, 2, PixelRect{1, 0, 2, 2},
                                  image.data()),
               Error);
}

TEST(VisionPreprocess, PlanResizeFollowsShorterSideAndCentreCrop) {
  ResizePlan plan = plan_resize(160, 120, 96);
  EXPECT_EQ(plan.resized_width, 128);
  EXPECT_EQ(plan.resized_height, 96);
  EXPECT_EQ(plan.crop_x, 16);
  EXPECT_EQ(plan.crop_y, 0);
  // int(10 * 100 / 30) = int(33.33) = 33; crop offset (33 - 10) // 2 = 11.
  plan = plan_resize(100, 30, 10);
  EXPECT_EQ(plan.resized_width, 33);
  EXPECT_EQ(plan.resized_height, 10);
  EXPECT_EQ(plan.crop_x, 11);
  plan = plan_resize(30, 100, 10);
  EXPECT_EQ(plan.resized_width, 10);
  EXPECT_EQ(plan.resized_height, 33);
  EXPECT_EQ(plan.crop_y, 11);
  plan = plan_resize(1920, 1080, 576);
  EXPECT_EQ(plan.resized_width, 1024);
  EXPECT_EQ(plan.crop_x, 224);
  EXPECT_THROW(plan_resize(0, 10, 10), Error);
}

TEST(VisionPreprocess, NormalisesWithClipMeanAndStdInPlanarLayout) {
  // Already S x S: no resampling, so every pixel maps through (v / 255 - mean) / std.
  torch::manual_seed(5);
  const torch::Tensor frames = torch::randint(0, 256, {2, 8, 8, 3}, torch::kUInt8);
  const torch::Tensor pixels = preprocess_frames(frames, 8);
  ASSERT_EQ(pixels.sizes(), (c10::IntArrayRef{2, 3, 8, 8}));
  ASSERT_EQ(pixels.scalar_type(), torch::kFloat32);
  const torch::Tensor mean = torch::tensor({kClipMean[0], kClipMean[1], kClipMean[2]});
  const torch::Tensor std = torch::tensor({kClipStd[0], kClipStd[1], kClipStd[2]});
  const torch::Tensor expected =
      ((frames.to(torch::kFloat64) / 255.0 - mean.to(torch::kFloat64)) / std.to(torch::kFloat64))
          .permute({0, 3, 1, 2});
  EXPECT_LT(test::max_abs(pixels, expected), 1e-6);
}

TEST(VisionPreprocess, FrameViewsWithRowPaddingMatchTheTensorPath) {
  torch::manual_seed(6);
  const torch::Tensor frames = torch::randint(0, 256, {3, 30, 50, 3}, torch::kUInt8);
  const int stride = 50 * 3 + 7;  // padded rows, as GStreamer buffers may have
  std::vector<std::vector<uint8_t>> buffers(3, std::vector<uint8_t>(30 * stride, 0xAB));
  std::vector<FrameView> views;
  for (int t = 0; t < 3; ++t) {
    const uint8_t* src = frames[t].data_ptr<uint8_t>();
    for (int y = 0; y < 30; ++y) {
      std::copy(src + y * 150, src + (y + 1) * 150, buffers[t].data() + y * stride);
    }
    views.push_back(FrameView{buffers[t].data(), 50, 30, stride});
  }
  const torch::Tensor from_tensor = preprocess_frames(frames, 16);
  const torch::Tensor from_views = preprocess_frames(views, 16);
  EXPECT_TRUE(torch::equal(from_tensor, from_views));
  EXPECT_EQ(from_views.sizes(), (c10::IntArrayRef{3, 3, 16, 16}));
}

TEST(VisionPreprocess, RejectsWrongTensors) {
  EXPECT_THROW(preprocess_frames(torch::zeros({1, 4, 4, 3}), 4), Error);
  EXPECT_THROW(preprocess_frames(torch::zeros({4, 4, 3}, torch::kUInt8), 4), Error);
  EXPECT_THROW(preprocess_frames(torch::zeros({1, 4, 4, 4}, torch::kUInt8), 4), Error);
  EXPECT_THROW(preprocess_frames(std::vector<FrameView>{FrameView{}}, 4), Error);
}

void expect_golden_pixels(const std::string& dir) {
  const torch::Tensor frames = read_npy(dir + "/frames.npy");
  const torch::Tensor expected = read_npy(dir + "/expected/pixel_values.npy");
  const torch::Tensor pixels = preprocess_frames(frames, expected.size(-1));
  ASSERT_EQ(pixels.sizes(), expected.sizes());
  const double error = test::rel_l2(pixels, expected);
  const double worst = test::max_abs(pixels, expected);
  std::cout << "pixel_values vs reference: rel L2 " << error << ", max abs " << worst << "\n";
  EXPECT_LE(error, test::kGoldenRelL2);
}

TEST(VisionPreprocess, GoldenA_NoResize) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "a");
  expect_golden_pixels(dir);
}

TEST(VisionPreprocess, GoldenB_PillowBicubicResizeAndCrop) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "b");
  expect_golden_pixels(dir);
}

}  // namespace
}  // namespace slowfast
