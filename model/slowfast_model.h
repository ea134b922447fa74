// The whole network as the checkpoint names it: "model" (Qwen2 + vision_tower + mm_projector)
// and "lm_head", the original's LlavaQwenSlowFastForCausalLM.
#pragma once

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/linear.h"
#include "text/qwen2.h"
#include "vision/projector.h"
#include "vision/vision_tower.h"

namespace slowfast {

// LlavaQwenSlowFastModel: the Qwen2 decoder plus the vision modules under the same prefix.
class SlowFastBackboneImpl : public Qwen2ModelImpl {
 public:
  SlowFastBackboneImpl(const Config& config, const torch::TensorOptions& options);

  // pixels: [T, 3, S, S] -> projector output [T, N, H] (before any pooling)
  torch::Tensor encode_images(const torch::Tensor& pixels);

  VisionTower vision_tower{nullptr};
  Projector mm_projector{nullptr};
};
TORCH_MODULE(SlowFastBackbone);

class SlowFastForCausalLMImpl : public torch::nn::Module {
 public:
  SlowFastForCausalLMImpl(const Config& config, const torch::TensorOptions& options);

  SlowFastBackbone model{nullptr};
  Linear lm_head{nullptr};  // [V, H], no bias
};
TORCH_MODULE(SlowFastForCausalLM);

// Checkpoint tensors the original never reads at inference (the ConvNeXt classifier head).
extern const char* const kUnusedCheckpointPrefixes[];

}  // namespace slowfast
