// The checkpoint's "vision_tower" wrapper: the original's ConvNextVisionTower holds the timm model
// as its own "vision_tower" attribute, so registered as "vision_tower" under "model" its tensors
// are "model.vision_tower.vision_tower.*". The tower's classifier head ("...head.*") is not built:
// inference reads only the last stage.
#pragma once

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "vision/convnext.h"

namespace slowfast {

class VisionTowerImpl : public torch::nn::Module {
 public:
  // Builds the ConvNeXt of config.vision (load_config resolves the tower name to it). Throws
  // slowfast::Error when the last stage's width differs from mm_hidden_size. Parameters are
  // allocated with `options`, uninitialised.
  VisionTowerImpl(const Config& config, const torch::TensorOptions& options);
  // pixels: [T, 3, S, S] -> [T, (S/32)^2, mm_hidden]
  torch::Tensor forward(const torch::Tensor& pixels);

 private:
  ConvNeXt vision_tower_{nullptr};
};
TORCH_MODULE(VisionTower);

}  // namespace slowfast
