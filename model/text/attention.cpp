#include "text/attention.h"

#include <string>
#include <tuple>

#include <torch/torch.h>

#include "slowfast.h"
#include "text/decode_attention.h"

namespace slowfast {

AttentionImpl::AttentionImpl(const Config& config, int64_t layer_index, bool hybrid,
                             const torch::TensorOptions& options)
    : layer_index_(layer_index),
      hybrid_(hybrid),
      heads_(config.num_attention_heads),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim()) {
  const int64_t hidden = config.hidden_size;
  q_proj = register_module("q_proj", Linear(hidden, heads_ * head_dim_, true, options));
  k_proj = register_module("k_proj", Linear(hidden, kv_heads_ * head_dim_, true, options));
  v_proj = register_module("v_proj", Linear(hidden, kv_heads_ * head_dim_, true, options));
  o_proj = register_module("o_proj", Linear(heads_ * head_dim_, hidden, false, options));
  if (!hybrid_) return;

  gating_ = parse_cross_attention_gating(config.cross_attn_gating_type);
  cross_attn_kv_proj = register_module("cross_attn_kv_proj",
                                       Linear(hidden, 2 * kv_heads_ * head_dim_, true, options));
  cross_attn_gate = Linear(hidden, 1, true, options);
  cross_attn_gate_proj = torch::nn::Sequential(cross_attn_gate);
  if (gating_.tanh) cross_attn_gate_proj->push_back(torch::nn::Tanh());
  register_module("cross_attn_gate_proj", cross_attn_gate_proj);
  if (gating_.warm_up) {
    // Zero, as the original initialises it: tanh(0) switches the cross-attention off.
    cross_attn_warm_up_gate = register_parameter(
        "cross_attn_warm_up_gate", torch::zeros({1}, options), /*requires_grad=*/false);
  }
}

MemoryKeyValues AttentionImpl::memory_key_values(const torch::Tensor& memory, RMSNormImpl& norm) {
  if (!hybrid_) {
    throw Error("layer " + std::to_string(layer_index_) + " has no cross-attention");
  }
  return project_memory(memory, norm, *cross_attn_kv_proj, kv_heads_, head_dim_);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& hidden, const ForwardPass& pass,
                                     const MemoryKeyValues& memory, KVCache& cache) {
  const int64_t length = hidden.size(0);
  const torch::Tensor query =
      apply_rope(q_proj->forward(hidden).view({length, heads_, head_dim_}), pass.rope);
  const torch::Tensor key =
      apply_rope(k_proj->forward(hidden).view({length, kv_heads_, head_dim_}), pass.rope);
  const torch::Tensor value = v_proj->forward(hidden).view({length, kv_heads_, head_dim_});

  const auto [keys, values] =
      cache.append(layer_index_, key.transpose(0, 1), value.transpose(0, 1));
  // One token (a decode step) attends to every cached key, as a row of forward_batch() does.
  torch::Tensor attention = length == 1
                                ? decode_attention(query, {keys}, {values})
                                : prompt_attention(query, keys, values, pass.start);  // [L, H]

  if (hybrid_ && pass.has_cross_attention() && memory.key.defined()) {
    const torch::Tensor& rows = pass.cross_rows;
    const torch::Tensor context = attend_memory(query.index_select(0, rows), memory);
    const torch::Tensor text_attention = attention.index_select(0, rows);
    const torch::Tensor gate =
        cross_attention_gate(text_attention, *cross_attn_gate, cross_attn_warm_up_gate, gating_);
    attention = attention.index_copy(0, rows, text_attention + context * gate);
  }
  return o_proj->forward(attention);
}

torch::Tensor AttentionImpl::forward_batch(const torch::Tensor& hidden, const RopeTables& rope,
                                           const std::vector<KVCache*>& caches) {
  const int64_t batch = hidden.size(0);
  // [B, heads, D]: each row rotated for its own position, elementwise as forward() rotates it.
  const torch::Tensor queries =
      apply_rope(q_proj->forward(hidden).view({batch, heads_, head_dim_}), rope);
  const torch::Tensor keys =
      apply_rope(k_proj->forward(hidden).view({batch, kv_heads_, head_dim_}), rope);
  const torch::Tensor values = v_proj->forward(hidden).view({batch, kv_heads_, head_dim_});
  std::vector<torch::Tensor> cached_keys(batch), cached_values(batch);
  for (int64_t row = 0; row < batch; ++row) {
    std::tie(cached_keys[row], cached_values[row]) =
        caches[row]->append_row(layer_index_, keys, values, row);
  }
  return o_proj->forward(decode_attention(queries, cached_keys, cached_values));
}

}  // namespace slowfast
