// The language model: Qwen2 with hybrid (text-to-video cross-attention) decoder layers.
// Batch size 1: hidden states are [L, H].
//
// Module paths follow the checkpoint: registered by the engine under "model", the parameters are
// model.embed_tokens.weight, model.layers.{i}.self_attn.q_proj.weight, ..., model.norm.weight.
// The engine subclasses or wraps Qwen2ModelImpl to add vision_tower and mm_projector under the
// same prefix, and owns lm_head (see logits()).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "text/cross_attention.h"
#include "text/decoder_layer.h"
#include "text/embedding.h"
#include "text/kv_cache.h"
#include "text/rms_norm.h"

namespace slowfast {

class Qwen2ModelImpl : public torch::nn::Module {
 public:
  // Parameters are allocated with `options` (dtype, device) but not initialised (except norms
  // and the warm-up gates, as in the original): load a checkpoint or init_random_parameters().
  explicit Qwen2ModelImpl(const Config& config,
                          const torch::TensorOptions& options = torch::TensorOptions());

  // inputs_embeds: [L, H]; is_text: [L] bool, true for text tokens, false for visual tokens
  // (may be undefined when `memory` is); memory: [M, H] slow tokens for the cross-attention, or
  // undefined -> hidden states after the final norm, [L, H], in the weights' dtype.
  // The tokens take cache positions (and RoPE positions) cache.length() .. +L-1; the cache grows
  // when too small. Cross-attention runs only when `memory` is defined and the pass holds at least
  // one visual token (the original zeroes it otherwise, which covers every decode step).
  // Inputs are converted to the weights' dtype and device.
  torch::Tensor forward(const torch::Tensor& inputs_embeds, const torch::Tensor& is_text,
                        const torch::Tensor& memory, KVCache& cache);

  // A decode step of several sequences: inputs_embeds [B, H], row b the next token of the sequence
  // cached in *caches[b] (each at its own length; no cross-attention, as in every decode step)
  // -> [B, H] after the final norm. Each row equals forward() of that row alone on its cache (bit
  // for bit with the bf16 kernel, within float32 rounding otherwise); one row is forward().
  torch::Tensor forward_batch(const torch::Tensor& inputs_embeds,
                              const std::vector<KVCache*>& caches);

  // ids: [L] int64 -> [L, H]
  torch::Tensor embed(const torch::Tensor& ids);

  const Config& config() const { return config_; }
  KVCacheShape cache_shape() const;
  // dtype and device of the weights (as loaded).
  torch::TensorOptions weight_options() const;

  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};

 private:
  Config config_;
  std::vector<DecoderLayer> decoder_layers_;  // the entries of `layers`, typed
  bool has_hybrid_layers_ = false;
  CrossAttentionScope cross_scope_;
};
TORCH_MODULE(Qwen2Model);

// hidden: [L, H], lm_head_weight: [V, H] -> logits [L, V] in float32 (the product runs in the
// weights' dtype, as the original's lm_head).
// With low-precision weights no logit near a row's maximum keeps bf16 rounding, so greedy choices
// never hinge on rounding ties: a single bf16 row on a CPU with AVX512-BF16 is computed entirely
// in float32 (bf16_gemv.h); otherwise the logits near each row's maximum are recomputed in float32
// (refine_top_logits).
torch::Tensor logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight);
// logits: [L, V] float32, updated in place (on a GPU without reading anything back).
void refine_top_logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                       torch::Tensor& logits);

}  // namespace slowfast
