#include "text/decoder_layer.h"

#include <torch/torch.h>

namespace slowfast {

DecoderLayerImpl::DecoderLayerImpl(const Config& config, int64_t layer_index,
                                   const torch::TensorOptions& options) {
  self_attn = register_module(
      "self_attn", Attention(config, layer_index, config.is_hybrid_layer(layer_index), options));
  mlp = register_module("mlp", Mlp(config, options));
  input_layernorm =
      register_module("input_layernorm", RMSNorm(config.hidden_size, config.rms_norm_eps, options));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", RMSNorm(config.hidden_size, config.rms_norm_eps, options));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const ForwardPass& pass,
                                        KVCache& cache) {
  // The memory goes through this layer's input_layernorm, like the text (original behaviour).
  MemoryKeyValues memory;
  if (self_attn->hybrid() && pass.has_cross_attention()) {
    memory = self_attn->memory_key_values(pass.memory, *input_layernorm);
  }
  // Residual additions in place on the blocks' fresh outputs.
  const torch::Tensor hidden =
      self_attn->forward(input_layernorm->forward(x), pass, memory, cache).add_(x);
  return mlp->forward(post_attention_layernorm->forward(hidden)).add_(hidden);
}

torch::Tensor DecoderLayerImpl::forward_batch(const torch::Tensor& x, const RopeTables& rope,
                                              const std::vector<KVCache*>& caches) {
  const torch::Tensor hidden =
      self_attn->forward_batch(input_layernorm->forward(x), rope, caches).add_(x);
  return mlp->forward(post_attention_layernorm->forward(hidden)).add_(hidden);
}

}  // namespace slowfast
