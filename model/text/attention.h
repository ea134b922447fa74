// A decoder layer's attention block ("self_attn"): Qwen2 grouped-query causal self-attention over
// the KV cache and, in hybrid layers, the text-to-video cross-attention (cross_attention.h)
// merged into its output before o_proj.
#pragma once

#include <cstdint>

#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/linear.h"
#include "text/cross_attention.h"
#include "text/forward_pass.h"
#include "text/kv_cache.h"

namespace slowfast {

class AttentionImpl : public torch::nn::Module {
 public:
  // Registers q_proj, k_proj, v_proj (with bias), o_proj (without) and, when `hybrid`,
  // cross_attn_kv_proj, cross_attn_gate_proj (a Sequential: "0" the Linear [1, H], then tanh when
  // the gating type says so) and, for warm-up gating, cross_attn_warm_up_gate [1].
  AttentionImpl(const Config& config, int64_t layer_index, bool hybrid,
                const torch::TensorOptions& options);

  // hidden: [L, H] (after input_layernorm); memory: this layer's memory keys and values, used
  // only when the layer is hybrid and pass.has_cross_attention() -> [L, H] after o_proj.
  // Appends the pass's keys and values to `cache` (layer_index).
  torch::Tensor forward(const torch::Tensor& hidden, const ForwardPass& pass,
                        const MemoryKeyValues& memory, KVCache& cache);

  // A decode step of several sequences: hidden [B, H], row b the next token of the sequence
  // cached in *caches[b], rope [B, D] row b for that cache's length (no cross-attention) -> [B, H]
  // after o_proj. The projections and rotations run once for all rows; each row attends to its
  // own cache.
  torch::Tensor forward_batch(const torch::Tensor& hidden, const RopeTables& rope,
                              const std::vector<KVCache*>& caches);

  // memory: [M, H] slow tokens -> keys and values through `norm` (the layer's input_layernorm)
  // and cross_attn_kv_proj. Hybrid layers only.
  MemoryKeyValues memory_key_values(const torch::Tensor& memory, RMSNormImpl& norm);

  bool hybrid() const { return hybrid_; }

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  // Hybrid layers only.
  Linear cross_attn_kv_proj{nullptr};
  Linear cross_attn_gate{nullptr};  // cross_attn_gate_proj.0
  torch::nn::Sequential cross_attn_gate_proj{nullptr};
  torch::Tensor cross_attn_warm_up_gate;  // [1], warm-up gating only

 private:
  int64_t layer_index_;
  bool hybrid_;
  int64_t heads_;
  int64_t kv_heads_;
  int64_t head_dim_;
  CrossAttentionGating gating_;
};
TORCH_MODULE(Attention);

}  // namespace slowfast
