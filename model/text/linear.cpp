#include "text/linear.h"

#include <torch/torch.h>

namespace slowfast {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool bias_enabled,
                       const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options),
                              /*requires_grad=*/false);
  if (bias_enabled) {
    bias = register_parameter("bias", torch::empty({out_features}, options),
                              /*requires_grad=*/false);
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(x, weight, bias);
}

}  // namespace slowfast
