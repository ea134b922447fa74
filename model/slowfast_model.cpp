#include "slowfast_model.h"

namespace slowfast {

const char* const kUnusedCheckpointPrefixes[] = {"model.vision_tower.vision_tower.head.", nullptr};

SlowFastBackboneImpl::SlowFastBackboneImpl(const Config& config,
                                           const torch::TensorOptions& options)
    : Qwen2ModelImpl(config, options) {
  vision_tower = register_module("vision_tower", VisionTower(config, options));
  mm_projector = register_module("mm_projector", Projector(config, options));
}

torch::Tensor SlowFastBackboneImpl::encode_images(const torch::Tensor& pixels) {
  // pixels: [T, 3, S, S] -> [T, N, mm_hidden] -> [T, N, H]
  return mm_projector->forward(vision_tower->forward(pixels));
}

SlowFastForCausalLMImpl::SlowFastForCausalLMImpl(const Config& config,
                                                 const torch::TensorOptions& options) {
  model = register_module("model", SlowFastBackbone(config, options));
  lm_head = register_module("lm_head",
                            Linear(config.hidden_size, config.vocab_size, /*bias=*/false, options));
}

}  // namespace slowfast
