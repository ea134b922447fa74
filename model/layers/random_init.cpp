#include "layers/random_init.h"

#include <cmath>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace slowfast {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void init_random_parameters(torch::nn::Module& module, uint64_t seed) {
  torch::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& parameter = item.value();
    double mean = 0.0, std = 0.1;
    if (parameter.dim() == 2) {
      std = 1.0 / std::sqrt(static_cast<double>(parameter.size(1)));
    } else if (ends_with(name, "norm.weight") || ends_with(name, "layernorm.weight")) {
      mean = 1.0;
    } else if (ends_with(name, "warm_up_gate")) {
      mean = 1.0;
    }
    if (parameter.is_cpu()) {
      parameter.normal_(mean, std, generator);
    } else {
      parameter.copy_(torch::empty(parameter.sizes(), parameter.options().device(torch::kCPU))
                          .normal_(mean, std, generator));
    }
  }
}

}  // namespace slowfast
