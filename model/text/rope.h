// Rotary position embedding, rotate-half form (Qwen2 / Hugging Face "default" rope type).
#pragma once

#include <torch/torch.h>

namespace slowfast {

// cos and sin tables for consecutive positions, in the dtype the rotation is applied in.
struct RopeTables {
  torch::Tensor cos;  // [L, D]
  torch::Tensor sin;  // [L, D]
};

// inv_freq[i] = theta^(-2i/D), float32 [D/2], computed as the original does (1 / theta^(2i/D)).
torch::Tensor rope_inverse_frequencies(int64_t head_dim, double theta, const torch::Device& device);

// Tables for positions start .. start+length-1: angles in float32, then cast to `dtype`
// (as the original casts cos/sin to the activations' dtype).
RopeTables rope_tables(int64_t start, int64_t length, int64_t head_dim, double theta,
                       torch::ScalarType dtype, const torch::Device& device);

// x: [L, heads, D], tables for the same L positions -> [L, heads, D] rotated
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& tables);

}  // namespace slowfast
