// One Qwen2 decoder layer, ordinary or hybrid (with text-to-video cross-attention).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "text/attention.h"
#include "text/forward_pass.h"
#include "text/kv_cache.h"
#include "text/mlp.h"
#include "text/rms_norm.h"

namespace slowfast {

class DecoderLayerImpl : public torch::nn::Module {
 public:
  // Hybrid when config.is_hybrid_layer(layer_index).
  DecoderLayerImpl(const Config& config, int64_t layer_index, const torch::TensorOptions& options);

  // x: [L, H] -> [L, H]
  torch::Tensor forward(const torch::Tensor& x, const ForwardPass& pass, KVCache& cache);
  // A decode step of several sequences: x [B, H], row b cached in *caches[b] -> [B, H]
  torch::Tensor forward_batch(const torch::Tensor& x, const RopeTables& rope,
                              const std::vector<KVCache*>& caches);

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

}  // namespace slowfast
