// Text-to-video cross-attention of the hybrid decoder layers (spec section 7 step 2): text tokens
// of a pass that holds visual tokens attend to the slow tokens; the result is gated per token and
// added to the self-attention output before o_proj.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "layers/linear.h"
#include "text/rms_norm.h"

namespace slowfast {

// config "cross_attn_gating_type": "whole-dynamic[-tanh][-warmup]" (one scalar gate per token).
struct CrossAttentionGating {
  bool tanh = false;     // tanh on the gate projection
  bool warm_up = false;  // times tanh(cross_attn_warm_up_gate)
};
CrossAttentionGating parse_cross_attention_gating(const std::string& gating_type);

// config "cross_attn_implementation": "text-only-vanilla[-masksystem][-flashattn]" (flash
// attention is a kernel choice of the original, not a different computation).
struct CrossAttentionScope {
  bool skip_before_first_visual = false;  // "masksystem": text before the video does not attend
};
CrossAttentionScope parse_cross_attention_implementation(const std::string& implementation);

// is_text: [L] bool -> the rows that attend to the memory, [Lt] int64; undefined when the pass
// holds no visual token (the original multiplies the cross-attention by zero then).
torch::Tensor cross_attention_rows(const torch::Tensor& is_text, const CrossAttentionScope& scope);

// Memory keys and values of one hybrid layer, each [KVH, M, D].
struct MemoryKeyValues {
  torch::Tensor key;
  torch::Tensor value;
};
// memory: [M, H] slow tokens -> norm, then kv_proj: [M, KVH*2*D] read as [M, KVH, 2, D] (key and
// value interleaved per head) -> keys and values [KVH, M, D]. No RoPE on the memory. Computed in
// row blocks so the float32 normalisation of a long memory never exists all at once.
MemoryKeyValues project_memory(const torch::Tensor& memory, RMSNormImpl& norm, LinearImpl& kv_proj,
                               int64_t kv_heads, int64_t head_dim);

// query: [Lt, heads, D], the rows' RoPE-rotated self-attention queries -> [Lt, heads*D]
torch::Tensor attend_memory(const torch::Tensor& query, const MemoryKeyValues& memory);

// attention: [Lt, H], the rows' self-attention output before o_proj -> gate [Lt, 1]:
// gate_proj(a) (tanh'd when gating.tanh), times tanh(warm_up_gate) when gating.warm_up.
torch::Tensor cross_attention_gate(const torch::Tensor& attention, LinearImpl& gate_proj,
                                   const torch::Tensor& warm_up_gate,
                                   const CrossAttentionGating& gating);

}  // namespace slowfast
