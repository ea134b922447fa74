#include "vision/convnext.h"

#include <algorithm>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {
namespace {

constexpr int64_t kRgbChannels = 3;

// [N, C, H, W] (any strides) -> [N, H, W, C]; a free, contiguous view of channels-last memory.
torch::Tensor to_channels_last_view(const torch::Tensor& x) {
  return x.permute({0, 2, 3, 1});
}

// LayerNorm over the last dimension, computed and returned in float32 whatever the input dtype:
// libtorch 1.13's bfloat16 layer_norm kernel on the CPU is some 20x slower than converting to
// float32, and float32 statistics are at least as accurate.
torch::Tensor layer_norm_float32(const torch::Tensor& x, const torch::Tensor& weight,
                                 const torch::Tensor& bias, double eps) {
  // x: [..., C] -> [..., C] float32
  return torch::layer_norm(x.to(torch::kFloat32), {x.size(-1)}, weight.to(torch::kFloat32),
                           bias.to(torch::kFloat32), eps);
}

std::string join(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

}  // namespace

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps, const torch::TensorOptions& options)
    : eps_(eps) {
  weight_ =
      register_parameter("weight", torch::empty({channels}, options), /*requires_grad=*/false);
  bias_ = register_parameter("bias", torch::empty({channels}, options), /*requires_grad=*/false);
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  // x: [N, C, H, W] -> [N, C, H, W]
  const torch::Tensor input = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const int64_t channels = input.size(1);
  const torch::Tensor rows = to_channels_last_view(input).view({-1, channels});
  if (torch::GradMode::is_enabled()) {
    // Training (the demo model's trainer): one differentiable op, no out= tiles.
    return layer_norm_float32(rows, weight_, bias_, eps_)
        .to(input.scalar_type())
        .view({input.size(0), input.size(2), input.size(3), channels})
        .permute({0, 3, 1, 2});
  }
  torch::Tensor out = torch::empty_like(input);
  torch::Tensor out_rows = to_channels_last_view(out).view({-1, channels});
  // Tiles keep the float32 temporaries small, as in the blocks.
  const int64_t tile =
      std::max<int64_t>(1, kConvNeXtTileBytes / (channels * static_cast<int64_t>(sizeof(float))));
  for (int64_t begin = 0; begin < rows.size(0); begin += tile) {
    const int64_t end = std::min(rows.size(0), begin + tile);
    // copy_ rounds to the activations' dtype on the way.
    out_rows.slice(0, begin, end)
        .copy_(layer_norm_float32(rows.slice(0, begin, end), weight_, bias_, eps_));
  }
  return out;
}

ConvNeXtMlpImpl::ConvNeXtMlpImpl(int64_t channels, int64_t hidden,
                                 const torch::TensorOptions& options) {
  fc1_ = register_module("fc1", Linear(channels, hidden, /*bias=*/true, options));
  fc2_ = register_module("fc2", Linear(hidden, channels, /*bias=*/true, options));
}

torch::Tensor ConvNeXtMlpImpl::forward(const torch::Tensor& x) {
  // x: [..., C] -> [..., 4C] -> [..., C]
  torch::Tensor hidden = fc1_->forward(x);
  // In place (one 4C-wide buffer per tile instead of two) unless gradients need the input.
  hidden = torch::GradMode::is_enabled() ? at::gelu(hidden) : at::gelu_(hidden);
  return fc2_->forward(hidden);
}

ConvNeXtBlockImpl::ConvNeXtBlockImpl(int64_t channels, double eps,
                                     const torch::TensorOptions& options) {
  conv_dw_ = register_module(
      "conv_dw", Conv2d(Conv2dShape{channels, channels, kConvNeXtKernel, /*stride=*/1,
                                    /*padding=*/kConvNeXtKernel / 2, /*groups=*/channels},
                        options));
  norm_ = register_module("norm", LayerNorm2d(channels, eps, options));
  mlp_ = register_module("mlp", ConvNeXtMlp(channels, kConvNeXtMlpRatio * channels, options));
  layer_scale_ =
      register_parameter("weight", torch::empty({channels}, options), /*requires_grad=*/false);
}

torch::Tensor ConvNeXtBlockImpl::forward(const torch::Tensor& x) {
  // x: [N, C, H, W] -> [N, C, H, W]
  const torch::Tensor input = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const int64_t channels = input.size(1);
  // Channels-last memory: [N, H, W, C] views, one row of C values per position.
  const torch::Tensor mixed =
      to_channels_last_view(conv_dw_->forward(input)).contiguous().view({-1, channels});
  const torch::Tensor residual = to_channels_last_view(input).view({-1, channels});
  if (torch::GradMode::is_enabled()) {
    // Training (the demo model's trainer): whole-tensor differentiable ops, no out= tiles.
    const torch::Tensor normed =
        layer_norm_float32(mixed, norm_->weight(), norm_->bias(), norm_->eps());
    const torch::Tensor rows =
        residual + mlp_->forward(normed.to(input.scalar_type())) * layer_scale_;
    return rows.view({input.size(0), input.size(2), input.size(3), channels}).permute({0, 3, 1, 2});
  }
  torch::Tensor out = torch::empty_like(input);
  torch::Tensor out_rows = to_channels_last_view(out).view({-1, channels});
  // The per-position norm and MLP run on tiles of rows, so the 4C-wide hidden activations stay
  // within kConvNeXtTileBytes.
  const int64_t positions = mixed.size(0);
  const int64_t tile = std::max<int64_t>(
      1, kConvNeXtTileBytes / (kConvNeXtMlpRatio * channels * input.element_size()));
  for (int64_t begin = 0; begin < positions; begin += tile) {
    const int64_t end = std::min(positions, begin + tile);
    const torch::Tensor normed = layer_norm_float32(mixed.slice(0, begin, end), norm_->weight(),
                                                    norm_->bias(), norm_->eps());
    const torch::Tensor y = mlp_->forward(normed.to(input.scalar_type()));
    // out = residual + y * layer_scale in one pass.
    torch::Tensor out_tile = out_rows.slice(0, begin, end);
    torch::addcmul_out(out_tile, residual.slice(0, begin, end), y, layer_scale_);
  }
  return out;
}

ConvNeXtStageImpl::ConvNeXtStageImpl(int64_t in_channels, int64_t out_channels, int64_t depth,
                                     bool downsample, double eps,
                                     const torch::TensorOptions& options) {
  if (downsample) {
    downsample_ = register_module(
        "downsample", torch::nn::Sequential(
                          LayerNorm2d(in_channels, eps, options),
                          Conv2d(Conv2dShape{in_channels, out_channels, kConvNeXtDownsampleStride,
                                             /*stride=*/kConvNeXtDownsampleStride},
                                 options)));
  }
  blocks_ = register_module("blocks", torch::nn::Sequential());
  for (int64_t b = 0; b < depth; ++b) blocks_->push_back(ConvNeXtBlock(out_channels, eps, options));
}

torch::Tensor ConvNeXtStageImpl::forward(const torch::Tensor& x) {
  // x: [N, C_in, H, W] -> [N, C_out, H', W']
  torch::Tensor y = downsample_ ? downsample_->forward(x) : x;
  return blocks_->forward(y);
}

ConvNeXtImpl::ConvNeXtImpl(const VisionConfig& config, const torch::TensorOptions& options)
    : image_size_(config.image_size) {
  const auto& depths = config.depths;
  const auto& dims = config.dims;
  bool valid = static_cast<int64_t>(depths.size()) == kConvNeXtStages &&
               static_cast<int64_t>(dims.size()) == kConvNeXtStages;
  for (size_t s = 0; valid && s < depths.size(); ++s) valid = depths[s] > 0 && dims[s] > 0;
  if (!valid || config.norm_eps <= 0 || config.image_size <= 0) {
    throw Error(
        "ConvNeXt: vision config needs 4 stages with positive depths and dims, a positive "
        "norm_eps and image_size; got depths " +
        join(depths) + ", dims " + join(dims) + ", norm_eps " + std::to_string(config.norm_eps) +
        ", image_size " + std::to_string(config.image_size));
  }
  stem_ = register_module(
      "stem", torch::nn::Sequential(Conv2d(Conv2dShape{kRgbChannels, dims[0], kConvNeXtStemPatch,
                                                       /*stride=*/kConvNeXtStemPatch},
                                           options),
                                    LayerNorm2d(dims[0], config.norm_eps, options)));
  stages_ = register_module("stages", torch::nn::ModuleList());
  for (int64_t s = 0; s < kConvNeXtStages; ++s) {
    // Stage 0 keeps the stem's resolution and width: timm gives it no downsample module.
    const int64_t in_channels = s == 0 ? dims[0] : dims[s - 1];
    ConvNeXtStage stage(in_channels, dims[s], depths[s], /*downsample=*/s > 0, config.norm_eps,
                        options);
    stages_->push_back(stage);
    stage_list_.push_back(stage);
  }
  stem_channels_ = dims.front();
  out_channels_ = dims.back();
}

torch::Tensor ConvNeXtImpl::forward(const torch::Tensor& pixels) {
  // pixels: [T, 3, S, S] -> [T, (S/32)^2, C_last]
  if (!pixels.defined() || pixels.dim() != 4 || pixels.size(1) != kRgbChannels ||
      pixels.size(2) != image_size_ || pixels.size(3) != image_size_) {
    throw Error("ConvNeXt: pixels must be [T, 3, " + std::to_string(image_size_) + ", " +
                std::to_string(image_size_) + "], got " +
                (pixels.defined() ? c10::str(pixels.sizes()) : std::string("undefined")));
  }
  // Inference mode unless a caller records gradients (the demo model's trainer).
  c10::optional<torch::InferenceMode> inference;
  if (!torch::GradMode::is_enabled()) inference.emplace();
  const torch::Tensor& weight = stem_->ptr<Conv2dImpl>(0)->weight;
  // Frames go through in groups whose stem activations stay within a budget, for the same
  // reason the blocks tile their MLPs; each frame's result is independent of its group.
  const int64_t stem_side = image_size_ / kConvNeXtStemPatch;
  const int64_t frame_bytes = stem_channels_ * stem_side * stem_side *
                              static_cast<int64_t>(c10::elementSize(weight.scalar_type()));
  const int64_t group = std::max<int64_t>(1, kConvNeXtFrameGroupBytes / frame_bytes);
  const int64_t frames = pixels.size(0);
  std::vector<torch::Tensor> outputs;
  for (int64_t begin = 0; begin < frames; begin += group) {
    torch::Tensor x = pixels.slice(0, begin, std::min(frames, begin + group))
                          .to(weight.device(), weight.scalar_type())
                          .contiguous(torch::MemoryFormat::ChannelsLast);
    x = stem_->forward(x);
    for (auto& stage : stage_list_) x = stage->forward(x);
    // [t, C, g, g] -> [t, g, g, C] -> [t, g*g, C]
    outputs.push_back(to_channels_last_view(x).reshape({x.size(0), -1, out_channels_}));
  }
  return outputs.size() == 1 ? outputs.front() : torch::cat(outputs);
}

}  // namespace slowfast
