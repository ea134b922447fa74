// ConvNeXt image tower (timm's ConvNeXt as configured by the original for "convnext-576"), up to
// the last stage: no head, no final norm. Module paths equal the checkpoint's tensor names under
// "...vision_tower.vision_tower.": stem.{0,1}, stages.{s}.downsample.{0,1},
// stages.{s}.blocks.{b}.{conv_dw,norm,mlp.fc1,mlp.fc2,weight}.
//
// Activations flow in channels-last memory (NCHW shape, NHWC strides): the per-position
// LayerNorm and MLP then read contiguous channel vectors without copies, and oneDNN runs the
// convolutions in its native NHWC layout.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/conv2d.h"
#include "layers/linear.h"

namespace slowfast {

// Architecture constants the original fixes in code (timm ConvNeXt defaults), not in config.json.
constexpr int64_t kConvNeXtStages = 4;
constexpr int64_t kConvNeXtStemPatch = 4;         // stem: conv k = s = 4
constexpr int64_t kConvNeXtDownsampleStride = 2;  // stages 1..3: conv k = s = 2
constexpr int64_t kConvNeXtKernel = 7;            // depthwise conv of every block
constexpr int64_t kConvNeXtMlpRatio = 4;

// Memory budgets of the CPU execution (not model hyper-parameters): the bytes of one tile of MLP
// hidden activations, and of the stem activations of one group of frames. Both stay below
// glibc's largest mmap threshold (32 MiB), so buffers are recycled by malloc rather than mapped
// and page-faulted afresh for every operation (about 50 us per 4 KiB page on the development
// VM); tiles are otherwise as large as possible, because every operation on a tile is one
// fork/join of the intra-op threads.
constexpr int64_t kConvNeXtTileBytes = int64_t{24} << 20;
constexpr int64_t kConvNeXtFrameGroupBytes = int64_t{16} << 20;

// Every module below allocates its parameters with the given options (the run's dtype and
// device) and leaves them uninitialised: a checkpoint, the trainer or init_random_parameters()
// writes them.

// LayerNorm over the channels of a channels-first tensor (timm LayerNorm2d). Its parameters also
// serve the blocks' per-position LayerNorm ("norm"), which runs on channels-last rows.
class LayerNorm2dImpl : public torch::nn::Module {
 public:
  LayerNorm2dImpl(int64_t channels, double eps, const torch::TensorOptions& options);
  // x: [N, C, H, W] -> [N, C, H, W]
  torch::Tensor forward(const torch::Tensor& x);

  const torch::Tensor& weight() const { return weight_; }
  const torch::Tensor& bias() const { return bias_; }
  double eps() const { return eps_; }

 private:
  torch::Tensor weight_;
  torch::Tensor bias_;
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

// fc1 -> exact GELU -> fc2, on channels-last vectors.
class ConvNeXtMlpImpl : public torch::nn::Module {
 public:
  ConvNeXtMlpImpl(int64_t channels, int64_t hidden, const torch::TensorOptions& options);
  // x: [..., C] -> [..., C]
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Linear fc1_{nullptr};
  Linear fc2_{nullptr};
};
TORCH_MODULE(ConvNeXtMlp);

// x + layer_scale * mlp(norm(conv_dw(x))), norm and MLP per position over the channels.
class ConvNeXtBlockImpl : public torch::nn::Module {
 public:
  ConvNeXtBlockImpl(int64_t channels, double eps, const torch::TensorOptions& options);
  // x: [N, C, H, W] -> [N, C, H, W]
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv2d conv_dw_{nullptr};
  LayerNorm2d norm_{nullptr};
  ConvNeXtMlp mlp_{nullptr};
  torch::Tensor layer_scale_;  // checkpoint name "weight" (timm renamed "gamma")
};
TORCH_MODULE(ConvNeXtBlock);

// Optional downsample (LayerNorm2d, conv k = s = 2) then `depth` blocks.
class ConvNeXtStageImpl : public torch::nn::Module {
 public:
  ConvNeXtStageImpl(int64_t in_channels, int64_t out_channels, int64_t depth, bool downsample,
                    double eps, const torch::TensorOptions& options);
  // x: [N, C_in, H, W] -> [N, C_out, H', W'] (H' = H / 2 with downsampling)
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential downsample_{nullptr};
  torch::nn::Sequential blocks_{nullptr};
};
TORCH_MODULE(ConvNeXtStage);

class ConvNeXtImpl : public torch::nn::Module {
 public:
  // Throws slowfast::Error unless config has 4 stages of positive depths and widths.
  ConvNeXtImpl(const VisionConfig& config, const torch::TensorOptions& options);
  // pixels: [T, 3, S, S] (any float dtype) -> [T, (S/32)^2, dims.back()] in the weights' dtype,
  // grid positions row-major.
  torch::Tensor forward(const torch::Tensor& pixels);

 private:
  torch::nn::Sequential stem_{nullptr};
  torch::nn::ModuleList stages_{nullptr};
  std::vector<ConvNeXtStage> stage_list_;
  int64_t image_size_;
  int64_t stem_channels_ = 0;
  int64_t out_channels_ = 0;
};
TORCH_MODULE(ConvNeXt);

}  // namespace slowfast
