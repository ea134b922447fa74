// Self-attention of a decode step: one new token per sequence, each attending to every cached
// position of its own sequence. On CPUs with AVX512 one parallel pass computes every sequence and
// head (the general blocks of grouped_attention.h cost about 20 small libtorch calls per sequence
// and layer, which dominate a batched step); elsewhere each row goes through grouped_attention().
// Either way a row's result depends only on that row: a sequence decoded with others gets the
// numbers it gets alone.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace slowfast {

// queries: [B, heads, D]; keys[b], values[b]: [KVH, L_b, D] of sequence b (views of its cache),
// heads a multiple of KVH, query head h reading key/value head h / (heads / KVH). Scores scaled
// by 1/sqrt(D), softmax in float32. -> [B, heads * D] in the queries' dtype.
torch::Tensor decode_attention(const torch::Tensor& queries, const std::vector<torch::Tensor>& keys,
                               const std::vector<torch::Tensor>& values);

}  // namespace slowfast
