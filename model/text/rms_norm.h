// Qwen2's RMSNorm: normalised in float32, cast back to the input dtype, then scaled.
#pragma once

#include <torch/torch.h>

namespace slowfast {

class RMSNormImpl : public torch::nn::Module {
 public:
  // "weight" [dim] starts at ones, as in the original.
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);

  // x: [..., dim] -> [..., dim] in x's dtype
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace slowfast
