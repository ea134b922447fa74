// A fully connected layer whose parameters are allocated, not initialised: checkpoints overwrite
// them, and skipping torch::nn::Linear's float32 Kaiming initialisation keeps loading a 7B model
// from first building (and touching) 30 GB of float32 weights. Used by both towers.
#pragma once

#include <torch/torch.h>

namespace slowfast {

class LinearImpl : public torch::nn::Module {
 public:
  // Registers "weight" [out, in] and, when `bias`, "bias" [out], uninitialised, with `options`.
  LinearImpl(int64_t in_features, int64_t out_features, bool bias,
             const torch::TensorOptions& options);

  // x: [..., in] -> [..., out]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  torch::Tensor bias;  // undefined without bias
};
TORCH_MODULE(Linear);

}  // namespace slowfast
