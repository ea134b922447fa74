// The multimodal projector "mlp2x_gelu": Linear(mm_hidden, H) -> exact GELU -> Linear(H, H), per
// visual token. Registered as "mm_projector" its tensors are "model.mm_projector.{0,2}.*" (the
// original's nn.Sequential puts the GELU at index 1).
#pragma once

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/linear.h"

namespace slowfast {

constexpr char kMlp2xGeluProjector[] = "mlp2x_gelu";

class ProjectorImpl : public torch::nn::Module {
 public:
  // Throws slowfast::Error for any mm_projector_type other than "mlp2x_gelu". Parameters are
  // allocated with `options`, uninitialised.
  ProjectorImpl(const Config& config, const torch::TensorOptions& options);
  // x: [T, N, mm_hidden] -> [T, N, H] in the weights' dtype
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Linear in_{nullptr};   // "0"
  Linear out_{nullptr};  // "2"
  int64_t mm_hidden_size_;
};
TORCH_MODULE(Projector);

}  // namespace slowfast
