// Video pooling and the split into slow and fast visual tokens (spec section 5; the original's
// prepare_inputs_labels_for_multimodal and split_slow_fast_tokens). Pure functions on tensors of
// any float dtype; every one throws slowfast::Error for shapes or settings it cannot pool.
//
// Differences from the spec's wording, where the original code decides:
// - The original pads a window whose length T is not a multiple of
//   r = sampling_stride * temporal_stride with zero frames, but then selects frames by indices
//   below the ORIGINAL T (range(T), or sample_fast_frames(T, ...)), so the zero frames never
//   reach the fast tokens. fast_tokens() therefore pools the T real frames only.
// - Temporal pooling by runs of k frames uses avg_pool3d's floor mode: with T % k != 0 the last
//   T % k frames are dropped (e.g. T = 66, k = 4 gives 16 fast frames from frames 0..63).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"

namespace slowfast {

// Average pooling of each frame's tokens on their sqrt(N) x sqrt(N) grid with kernel = stride
// (avg_pool2d, floor mode: a side not divisible by the stride loses its last rows/columns).
// features: [T, N, H] -> [T, (floor(sqrt(N) / stride))^2, H]; stride 1 returns `features`.
torch::Tensor spatial_pool(const torch::Tensor& features, int64_t stride);

// Cross-attention memory: the frames' tokens frame-major. tokens: [T, n, H] -> [T * n, H].
// Pass the spatially pooled tokens for a video, the unpooled ones for a single image.
torch::Tensor slow_tokens(const torch::Tensor& tokens);

// The original's sample_fast_frames: all frames when frames < min_fast_frames, else
// n = max(frames / stride, min_fast_frames) indices min(int(i * frames / n), frames - 1).
std::vector<int64_t> fast_frame_indices(int64_t frames, int64_t sampling_stride,
                                        int64_t min_fast_frames);

// adaptive_avg_pool over time: output frame i averages input frames
// [floor(i * T / out_frames), ceil((i + 1) * T / out_frames)). frames: [T, ...] -> [out_frames,
// ...]
torch::Tensor adaptive_temporal_pool(const torch::Tensor& frames, int64_t out_frames);

// Fast tokens of a video window (T >= 2) from its spatially pooled tokens, using
// fast_token_temporal_sampling_stride, fast_token_temporal_stride, min_fast_frames and
// fast_token_spatial_stride. pooled: [T, n, H] -> [F, H].
torch::Tensor fast_tokens(const torch::Tensor& pooled, const Config& config);

// Fast tokens of a single image: its unpooled tokens pooled only by fast_token_spatial_stride.
// unpooled: [1, N, H] -> [N', H].
torch::Tensor image_fast_tokens(const torch::Tensor& unpooled, const Config& config);

struct SlowFastTokens {
  torch::Tensor fast;  // [F, H]: the LLM's visual input tokens
  torch::Tensor slow;  // [M, H]: the cross-attention memory
};
// Both token sets of one window: for T >= 2, `tokens` are the frames' spatially pooled tokens
// (video path); for T == 1, the image's unpooled tokens (image path). tokens: [T, n, H].
SlowFastTokens split_slow_fast(const torch::Tensor& tokens, const Config& config);

}  // namespace slowfast
