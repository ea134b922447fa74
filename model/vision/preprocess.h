// Frame preprocessing of the reference (CLIPImageProcessor as configured by the original's
// convnext_encoder.py): shorter side resized to the tower's input size with Pillow's bicubic,
// centre crop to a square, scale to [0, 1], normalise with the CLIP mean and std.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {

// CLIPImageProcessor's image_mean / image_std (RGB), fixed by the original for its ConvNeXt tower.
constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

// Where a frame of width x height goes: the size after the shorter-side resize and the offset of
// the centred image_size x image_size crop in the resized image.
struct ResizePlan {
  int resized_width = 0;
  int resized_height = 0;
  int crop_x = 0;
  int crop_y = 0;
};
// Throws slowfast::Error for non-positive sizes.
ResizePlan plan_resize(int width, int height, int64_t image_size);

// uint8 RGB frames [T, H, W, 3] -> float32 pixels [T, 3, S, S] (S = image_size).
// Throws slowfast::Error when `frames` is not a uint8 [T, H, W, 3] tensor.
// `pinned`: the pixels go to page-locked memory, from which a copy to a GPU runs asynchronously
// (pass it when they are bound for CUDA; ignored when libtorch sees no CUDA device).
torch::Tensor preprocess_frames(const torch::Tensor& frames, int64_t image_size,
                                bool pinned = false);
// Frames of any (possibly different) sizes -> float32 pixels [T, 3, S, S].
torch::Tensor preprocess_frames(const std::vector<FrameView>& frames, int64_t image_size,
                                bool pinned = false);

}  // namespace slowfast
