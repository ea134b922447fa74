#include "vision/vision_tower.h"

#include <string>

#include "slowfast.h"

namespace slowfast {

VisionTowerImpl::VisionTowerImpl(const Config& config, const torch::TensorOptions& options) {
  if (config.vision.dims.empty() || config.vision.dims.back() != config.mm_hidden_size) {
    throw Error("vision tower: mm_hidden_size " + std::to_string(config.mm_hidden_size) +
                " differs from the last ConvNeXt stage's width " +
                (config.vision.dims.empty() ? std::string("(no dims)")
                                            : std::to_string(config.vision.dims.back())));
  }
  vision_tower_ = register_module("vision_tower", ConvNeXt(config.vision, options));
}

torch::Tensor VisionTowerImpl::forward(const torch::Tensor& pixels) {
  // pixels: [T, 3, S, S] -> [T, (S/32)^2, mm_hidden]
  return vision_tower_->forward(pixels);
}

}  // namespace slowfast
