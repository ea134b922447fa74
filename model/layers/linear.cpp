#include "layers/linear.h"

#include <vector>

#include <torch/torch.h>

#include "layers/bf16_gemm.h"
#include "layers/bf16_gemv.h"

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
  // A few bfloat16 rows (a decode step's, one per answer): the dedicated kernel, rounded as a
  // bf16 layer.
  if (bf16_gemv_applies(x, weight)) return bf16_linear(x, weight, bias);
  // Many bfloat16 rows (a prefill, a vision block) on Intel: float32 FMAs beat oneDNN's vdpbf16ps.
  if (bf16_gemm_applies(x, weight)) return bf16_gemm_linear(x, weight, bias);
  return torch::nn::functional::linear(x, weight, bias);
}

}  // namespace slowfast
