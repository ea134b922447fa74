// Decoding a video file with GStreamer into RGB frames, sampled as the reference samples a clip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace slowfast::cli {

// Decodes `path` twice (first to count frames, then to keep the chosen ones) and returns
// uint8 [count, H, W, 3]. A clip shorter than `count` frames repeats frames as linspace does.
// Throws slowfast::Error naming the file when it cannot be decoded.
torch::Tensor decode_video_frames(const std::string& path, int64_t count);

}  // namespace slowfast::cli
