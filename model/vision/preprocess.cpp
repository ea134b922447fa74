#include "vision/preprocess.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <string>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "vision/resample.h"

namespace slowfast {
namespace {

constexpr int kChannels = 3;

// value -> normalised float for each channel, computed as the reference does it: rescale in
// float64 by 1/255, cast to float32, then (x - mean) / std in float32.
using NormaliseTable = std::array<std::array<float, 256>, kChannels>;

const NormaliseTable& normalise_table() {
  static const NormaliseTable table = [] {
    NormaliseTable t{};
    for (int c = 0; c < kChannels; ++c) {
      for (int v = 0; v < 256; ++v) {
        const float scaled = static_cast<float>(v * (1.0 / 255.0));
        t[c][v] = (scaled - kClipMean[c]) / kClipStd[c];
      }
    }
    return t;
  }();
  return table;
}

// One frame -> normalised planar pixels at `out` ([3, S, S] floats).
void preprocess_frame(const FrameView& frame, int size, float* out) {
  const ResizePlan plan = plan_resize(frame.width, frame.height, size);
  std::vector<uint8_t> crop(static_cast<size_t>(size) * size * kChannels);
  resize_bicubic_pil(frame, plan.resized_width, plan.resized_height,
                     PixelRect{plan.crop_x, plan.crop_y, size, size}, crop.data());
  const NormaliseTable& table = normalise_table();
  const size_t plane = static_cast<size_t>(size) * size;
  for (int c = 0; c < kChannels; ++c) {
    float* dst = out + c * plane;
    const auto& lut = table[c];
    for (size_t i = 0; i < plane; ++i) dst[i] = lut[crop[i * kChannels + c]];
  }
}

int checked_size(int64_t image_size) {
  if (image_size <= 0 || image_size > (1 << 16)) {
    throw Error("preprocess: invalid image_size " + std::to_string(image_size));
  }
  return static_cast<int>(image_size);
}

}  // namespace

ResizePlan plan_resize(int width, int height, int64_t image_size) {
  const int size = checked_size(image_size);
  if (width <= 0 || height <= 0) {
    throw Error("preprocess: invalid frame size " + std::to_string(width) + "x" +
                std::to_string(height));
  }
  // transformers' get_resize_output_image_size(default_to_square=False): the shorter side
  // becomes `size`, the longer int(size * long / short) (true division, then truncation).
  const int short_side = std::min(width, height);
  const int long_side = std::max(width, height);
  const int resized_long = static_cast<int>(static_cast<double>(int64_t{size} * long_side) /
                                            static_cast<double>(short_side));
  ResizePlan plan;
  plan.resized_width = width <= height ? size : resized_long;
  plan.resized_height = width <= height ? resized_long : size;
  plan.crop_x = (plan.resized_width - size) / 2;
  plan.crop_y = (plan.resized_height - size) / 2;
  return plan;
}

torch::Tensor preprocess_frames(const std::vector<FrameView>& frames, int64_t image_size,
                                bool pinned) {
  const int size = checked_size(image_size);
  const int64_t count = static_cast<int64_t>(frames.size());
  // Written in place, so pinned pixels cost no extra host copy.
  const auto options = torch::TensorOptions()
                           .dtype(torch::kFloat32)
                           .pinned_memory(pinned && torch::cuda::is_available());
  torch::Tensor pixels = torch::empty({count, kChannels, size, size}, options);
  float* base = pixels.data_ptr<float>();
  const size_t frame_floats = static_cast<size_t>(kChannels) * size * size;
  // Frames are independent; exceptions must not leave a parallel region, so the first error is
  // kept and rethrown after it.
  std::exception_ptr failure;
  std::mutex failure_mutex;
  at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      try {
        preprocess_frame(frames[t], size, base + t * frame_floats);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  });
  if (failure) std::rethrow_exception(failure);
  return pixels;
}

torch::Tensor preprocess_frames(const torch::Tensor& frames, int64_t image_size, bool pinned) {
  if (!frames.defined() || frames.scalar_type() != torch::kUInt8 || frames.dim() != 4 ||
      frames.size(3) != kChannels || !frames.device().is_cpu()) {
    throw Error("preprocess: frames must be a CPU uint8 tensor [T, H, W, 3], got " +
                (frames.defined() ? std::string(frames.toString()) + " " + c10::str(frames.sizes())
                                  : std::string("an undefined tensor")));
  }
  const torch::Tensor contiguous = frames.contiguous();
  const int height = static_cast<int>(contiguous.size(1));
  const int width = static_cast<int>(contiguous.size(2));
  std::vector<FrameView> views(contiguous.size(0));
  const uint8_t* data = contiguous.data_ptr<uint8_t>();
  const size_t frame_bytes = static_cast<size_t>(height) * width * kChannels;
  for (size_t t = 0; t < views.size(); ++t) {
    views[t] = FrameView{data + t * frame_bytes, width, height, width * kChannels};
  }
  return preprocess_frames(views, image_size, pinned);
}

}  // namespace slowfast
