#include "text/rms_norm.h"

#include <torch/torch.h>

namespace slowfast {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}, options), /*requires_grad=*/false);
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor x32 = x.to(torch::kFloat32);
  const torch::Tensor inv_rms = torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  // The original multiplies after the cast back, so bf16 rounding happens before the scale.
  return weight * (x32 * inv_rms).to(x.scalar_type());
}

}  // namespace slowfast
