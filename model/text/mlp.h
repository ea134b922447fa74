// Qwen2's SwiGLU feed-forward block: down(silu(gate(x)) * up(x)), no biases.
#pragma once

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/linear.h"

namespace slowfast {

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const Config& config, const torch::TensorOptions& options);

  // x: [L, H] -> [L, H]
  torch::Tensor forward(const torch::Tensor& x);

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

}  // namespace slowfast
