#include "vision/projector.h"

#include <string>

#include "slowfast.h"

namespace slowfast {

ProjectorImpl::ProjectorImpl(const Config& config, const torch::TensorOptions& options)
    : mm_hidden_size_(config.mm_hidden_size) {
  if (config.mm_projector_type != kMlp2xGeluProjector) {
    throw Error("projector: mm_projector_type \"" + config.mm_projector_type +
                "\" is not supported (only \"" + kMlp2xGeluProjector + "\")");
  }
  if (config.mm_hidden_size <= 0 || config.hidden_size <= 0) {
    throw Error("projector: mm_hidden_size " + std::to_string(config.mm_hidden_size) +
                " and hidden_size " + std::to_string(config.hidden_size) + " must be positive");
  }
  in_ = register_module("0",
                        Linear(config.mm_hidden_size, config.hidden_size, /*bias=*/true, options));
  out_ =
      register_module("2", Linear(config.hidden_size, config.hidden_size, /*bias=*/true, options));
}

torch::Tensor ProjectorImpl::forward(const torch::Tensor& x) {
  // x: [T, N, mm_hidden] -> [T, N, H]
  if (!x.defined() || x.dim() < 1 || x.size(-1) != mm_hidden_size_) {
    throw Error("projector: input must end in mm_hidden_size " + std::to_string(mm_hidden_size_) +
                ", got " + (x.defined() ? c10::str(x.sizes()) : std::string("undefined")));
  }
  // Inference mode unless a caller records gradients (the demo model's trainer).
  c10::optional<torch::InferenceMode> inference;
  if (!torch::GradMode::is_enabled()) inference.emplace();
  const torch::Tensor input = x.to(in_->weight.device(), in_->weight.scalar_type());
  torch::Tensor hidden = in_->forward(input);
  // Exact (erf) GELU, in place when no gradient needs its input.
  hidden = torch::GradMode::is_enabled() ? at::gelu(hidden) : at::gelu_(hidden);
  return out_->forward(hidden);
}

}  // namespace slowfast
