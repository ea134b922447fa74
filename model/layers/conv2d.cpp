#include "layers/conv2d.h"

#include <torch/torch.h>

namespace slowfast {

Conv2dImpl::Conv2dImpl(const Conv2dShape& shape, const torch::TensorOptions& options)
    : shape_(shape) {
  weight = register_parameter("weight",
                              torch::empty({shape.out_channels, shape.in_channels / shape.groups,
                                            shape.kernel, shape.kernel},
                                           options),
                              /*requires_grad=*/false);
  bias = register_parameter("bias", torch::empty({shape.out_channels}, options),
                            /*requires_grad=*/false);
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  // x: [N, in, H, W] -> [N, out, H', W']
  return torch::conv2d(x, weight, bias, shape_.stride, shape_.padding, /*dilation=*/1,
                       shape_.groups);
}

}  // namespace slowfast
