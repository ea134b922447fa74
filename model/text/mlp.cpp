#include "text/mlp.h"

#include <torch/torch.h>

namespace slowfast {

MlpImpl::MlpImpl(const Config& config, const torch::TensorOptions& options) {
  const int64_t hidden = config.hidden_size;
  const int64_t inner = config.intermediate_size;
  gate_proj = register_module("gate_proj", Linear(hidden, inner, false, options));
  up_proj = register_module("up_proj", Linear(hidden, inner, false, options));
  down_proj = register_module("down_proj", Linear(inner, hidden, false, options));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

}  // namespace slowfast
