#include "vision/pooling.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "slowfast.h"

namespace slowfast {
namespace {

std::string shape_of(const torch::Tensor& t) {
  return t.defined() ? c10::str(t.sizes()) : std::string("undefined");
}

void check_tokens(const torch::Tensor& tokens, const char* what) {
  if (!tokens.defined() || tokens.dim() != 3 || tokens.size(0) < 1 || tokens.size(1) < 1) {
    throw Error(std::string(what) + ": tokens must be [T, N, H] with T, N >= 1, got " +
                shape_of(tokens));
  }
}

void check_positive(int64_t value, const char* name) {
  if (value < 1)
    throw Error(std::string("pooling: ") + name + " must be >= 1, got " + std::to_string(value));
}

// Side of the square token grid the original assumes (h = w = int(sqrt(N))).
int64_t grid_side(int64_t tokens) {
  auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
  if (side * side != tokens) {
    throw Error("pooling: " + std::to_string(tokens) +
                " tokens per frame do not form a square grid");
  }
  return side;
}

}  // namespace

torch::Tensor spatial_pool(const torch::Tensor& features, int64_t stride) {
  // features: [T, N, H] -> [T, (g / stride)^2, H]
  check_tokens(features, "spatial_pool");
  check_positive(stride, "spatial pooling stride");
  if (stride == 1) return features;
  const int64_t frames = features.size(0);
  const int64_t hidden = features.size(2);
  const int64_t side = grid_side(features.size(1));
  const int64_t out_side = side / stride;
  if (out_side < 1) {
    throw Error("spatial_pool: a " + std::to_string(side) + "x" + std::to_string(side) +
                " token grid is smaller than the pooling stride " + std::to_string(stride));
  }
  const int64_t used = out_side * stride;  // floor mode: trailing rows/columns are dropped
  return features.reshape({frames, side, side, hidden})
      .slice(1, 0, used)
      .slice(2, 0, used)
      .reshape({frames, out_side, stride, out_side, stride, hidden})
      .mean({2, 4})
      .reshape({frames, out_side * out_side, hidden});
}

torch::Tensor slow_tokens(const torch::Tensor& tokens) {
  // tokens: [T, n, H] -> [T * n, H]
  check_tokens(tokens, "slow_tokens");
  return tokens.reshape({-1, tokens.size(2)}).contiguous();
}

std::vector<int64_t> fast_frame_indices(int64_t frames, int64_t sampling_stride,
                                        int64_t min_fast_frames) {
  check_positive(frames, "frame count");
  check_positive(sampling_stride, "fast_token_temporal_sampling_stride");
  check_positive(min_fast_frames, "min_fast_frames");
  std::vector<int64_t> indices;
  if (frames < min_fast_frames) {
    for (int64_t i = 0; i < frames; ++i) indices.push_back(i);
    return indices;
  }
  const int64_t count = std::max(frames / sampling_stride, min_fast_frames);
  // Python's i * (frames / count): a float step, truncated by int().
  const double step = static_cast<double>(frames) / static_cast<double>(count);
  for (int64_t i = 0; i < count; ++i) {
    indices.push_back(std::min(static_cast<int64_t>(static_cast<double>(i) * step), frames - 1));
  }
  return indices;
}

torch::Tensor adaptive_temporal_pool(const torch::Tensor& frames, int64_t out_frames) {
  // frames: [T, ...] -> [out_frames, ...]
  if (!frames.defined() || frames.dim() < 1 || frames.size(0) < 1) {
    throw Error("adaptive_temporal_pool: needs at least one frame, got " + shape_of(frames));
  }
  check_positive(out_frames, "adaptive pooling output frames");
  const int64_t in_frames = frames.size(0);
  std::vector<torch::Tensor> pooled;
  pooled.reserve(out_frames);
  for (int64_t i = 0; i < out_frames; ++i) {
    const int64_t begin = (i * in_frames) / out_frames;
    const int64_t end = ((i + 1) * in_frames + out_frames - 1) / out_frames;
    pooled.push_back(frames.slice(0, begin, end).mean(0));
  }
  return torch::stack(pooled);
}

torch::Tensor fast_tokens(const torch::Tensor& pooled, const Config& config) {
  // pooled: [T, n, H] -> [F, H]
  check_tokens(pooled, "fast_tokens");
  const int64_t frames = pooled.size(0);
  if (frames < 2) {
    throw Error("fast_tokens: a window of one frame is an image; use image_fast_tokens");
  }
  const int64_t temporal_stride = config.fast_token_temporal_stride;
  check_positive(temporal_stride, "fast_token_temporal_stride");
  check_positive(config.fast_token_temporal_sampling_stride, "fast_token_temporal_sampling_stride");
  check_positive(config.fast_token_spatial_stride, "fast_token_spatial_stride");

  // 1. Temporal sampling. (The original's zero padding to a multiple of
  //    sampling_stride * temporal_stride is never indexed: see pooling.h.)
  torch::Tensor x = pooled;
  if (config.fast_token_temporal_sampling_stride > 1) {
    const std::vector<int64_t> indices = fast_frame_indices(
        frames, config.fast_token_temporal_sampling_stride, config.min_fast_frames);
    x = x.index_select(0, torch::tensor(indices, torch::kInt64).to(x.device()));
  }

  // 2. Temporal pooling: runs of k frames when that leaves enough frames, else adaptive pooling.
  if (temporal_stride > 1) {
    check_positive(config.min_fast_frames, "min_fast_frames");
    const int64_t sampled = x.size(0);
    const int64_t runs = sampled / temporal_stride;
    if (runs >= config.min_fast_frames) {
      x = x.slice(0, 0, runs * temporal_stride)
              .reshape({runs, temporal_stride, x.size(1), x.size(2)})
              .mean(1);
    } else {
      x = adaptive_temporal_pool(x, std::min(sampled, config.min_fast_frames));
    }
  }

  // 3. Spatial pooling, then frame-major flattening.
  x = spatial_pool(x, config.fast_token_spatial_stride);
  return x.reshape({-1, x.size(2)}).contiguous();
}

torch::Tensor image_fast_tokens(const torch::Tensor& unpooled, const Config& config) {
  // unpooled: [1, N, H] -> [N', H]
  check_tokens(unpooled, "image_fast_tokens");
  if (unpooled.size(0) != 1) {
    throw Error("image_fast_tokens: expects one frame, got " + shape_of(unpooled));
  }
  const torch::Tensor x = spatial_pool(unpooled, config.fast_token_spatial_stride);
  return x.reshape({-1, x.size(2)}).contiguous();
}

SlowFastTokens split_slow_fast(const torch::Tensor& tokens, const Config& config) {
  // tokens: [T, n, H] -> fast [F, H], slow [T * n, H]
  check_tokens(tokens, "split_slow_fast");
  SlowFastTokens result;
  result.fast =
      tokens.size(0) == 1 ? image_fast_tokens(tokens, config) : fast_tokens(tokens, config);
  result.slow = slow_tokens(tokens);
  return result;
}

}  // namespace slowfast
