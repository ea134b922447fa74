#include "text/cross_attention.h"

#include <algorithm>
#include <string>

#include <torch/torch.h>

#include "slowfast.h"
#include "text/decode_attention.h"
#include "text/grouped_attention.h"

namespace slowfast {
namespace {

// Memory rows per projection block: about 4M input elements (16 MB in float32).
constexpr int64_t kMemoryElementsPerBlock = int64_t{1} << 22;

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

CrossAttentionGating parse_cross_attention_gating(const std::string& gating_type) {
  // Other gating types of the original leave the gate undefined in the text-only path.
  if (!starts_with(gating_type, "whole-dynamic")) {
    throw Error("config.json: cross_attn_gating_type \"" + gating_type +
                "\" is not supported (expected \"whole-dynamic[-tanh][-warmup]\")");
  }
  CrossAttentionGating gating;
  gating.tanh = contains(gating_type, "tanh");
  gating.warm_up = ends_with(gating_type, "warmup");
  return gating;
}

CrossAttentionScope parse_cross_attention_implementation(const std::string& implementation) {
  if (!starts_with(implementation, "text-only-vanilla")) {
    throw Error("config.json: cross_attn_implementation \"" + implementation +
                "\" is not supported (expected \"text-only-vanilla...\", as the released "
                "checkpoints)");
  }
  CrossAttentionScope scope;
  scope.skip_before_first_visual = contains(implementation, "masksystem");
  return scope;
}

torch::Tensor cross_attention_rows(const torch::Tensor& is_text, const CrossAttentionScope& scope) {
  if (is_text.dim() != 1 || is_text.scalar_type() != torch::kBool) {
    throw Error("cross-attention: token types must be a 1-D bool tensor, got " +
                c10::str(is_text.sizes()) + " " + c10::toString(is_text.scalar_type()));
  }
  const torch::Tensor visual_rows = torch::nonzero(is_text.logical_not()).flatten();
  if (visual_rows.numel() == 0) return {};
  torch::Tensor attending = is_text;
  if (scope.skip_before_first_visual) {
    attending = is_text.clone();
    attending.narrow(0, 0, visual_rows[0].item<int64_t>()).fill_(false);
  }
  return torch::nonzero(attending).flatten();
}

MemoryKeyValues project_memory(const torch::Tensor& memory, RMSNormImpl& norm, LinearImpl& kv_proj,
                               int64_t kv_heads, int64_t head_dim) {
  const int64_t memory_len = memory.size(0);
  const int64_t block_rows =
      std::max<int64_t>(1, kMemoryElementsPerBlock / std::max<int64_t>(1, memory.size(1)));
  // Contiguous [KVH, M, D] so that every text row's product reads the memory linearly.
  MemoryKeyValues projected{
      torch::empty({kv_heads, memory_len, head_dim}, kv_proj.weight.options()),
      torch::empty({kv_heads, memory_len, head_dim}, kv_proj.weight.options())};
  for (int64_t first = 0; first < memory_len; first += block_rows) {
    const int64_t rows = std::min(block_rows, memory_len - first);
    const torch::Tensor block = kv_proj.forward(norm.forward(memory.narrow(0, first, rows)))
                                    .view({rows, kv_heads, 2, head_dim});
    projected.key.narrow(1, first, rows).copy_(block.select(2, 0).transpose(0, 1));
    projected.value.narrow(1, first, rows).copy_(block.select(2, 1).transpose(0, 1));
  }
  return projected;
}

torch::Tensor attend_memory(const torch::Tensor& query, const MemoryKeyValues& memory) {
  return prompt_attention(query, memory.key, memory.value, kAttendAllKeys);
}

torch::Tensor cross_attention_gate(const torch::Tensor& attention, LinearImpl& gate_proj,
                                   const torch::Tensor& warm_up_gate,
                                   const CrossAttentionGating& gating) {
  torch::Tensor gate = gate_proj.forward(attention);  // [Lt, 1]
  if (gating.tanh) gate = gate.tanh();
  if (gating.warm_up) gate = gate * warm_up_gate.tanh();
  return gate;
}

}  // namespace slowfast
