// A square 2-D convolution whose parameters are allocated in the run's dtype, not initialised:
// checkpoints overwrite them. torch::nn::Conv2d would first Kaiming-initialise every kernel in
// float32, which for the release's ConvNeXt tower alone is most of the load time.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace slowfast {

struct Conv2dShape {
  int64_t in_channels;
  int64_t out_channels;
  int64_t kernel;
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;
};

class Conv2dImpl : public torch::nn::Module {
 public:
  // Registers "weight" [out, in / groups, k, k] and "bias" [out], uninitialised, with `options`.
  Conv2dImpl(const Conv2dShape& shape, const torch::TensorOptions& options);

  // x: [N, in, H, W] -> [N, out, (H + 2p - k) / s + 1, (W + 2p - k) / s + 1]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  Conv2dShape shape_;
};
TORCH_MODULE(Conv2d);

}  // namespace slowfast
