// Self-attention of a decode step: one new token per sequence, each attending to every cached
// position of its own sequence; and, through the same kernel row by row, a bfloat16 prompt's. On
// CPUs with AVX512 one parallel pass computes every sequence and head (the general blocks of
// grouped_attention.h cost about 20 small libtorch calls per sequence and layer, which dominate a
// batched step); elsewhere each row goes through grouped_attention(). Either way a row's result
// depends only on that row: a sequence decoded with others gets the numbers it gets alone.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace slowfast {

// queries: [B, heads, D]; keys[b], values[b]: [KVH, L_b, D] of sequence b (views of its cache),
// heads a multiple of KVH, query head h reading key/value head h / (heads / KVH). Scores scaled
// by 1/sqrt(D), softmax in float32. -> [B, heads * D] in the queries' dtype.
torch::Tensor decode_attention(const torch::Tensor& queries, const std::vector<torch::Tensor>& keys,
                               const std::vector<torch::Tensor>& values);

// A prompt's attention (a prefill's self-attention, or its text rows over the cross-attention
// memory) through the kernel above, for bfloat16 on CPUs with AVX512: query [L, heads, D];
// key, value [KVH, Lk, D] (views of a cache, positions evenly strided); with causal_offset >= 0
// row i sees keys 0 .. causal_offset + i, with kAttendAllKeys every key. Each row is computed as a
// decode step computes it, in float32 from the bfloat16 inputs to the one rounding of the result
// (libtorch's products round the scores and the weights to bfloat16 on the way, and took about
// 75 ms of a 171-token prefill of Qwen2-0.5B's shape). Other dtypes and devices, and layouts the
// kernel does not take, go through grouped_attention(). -> [L, heads * D]
torch::Tensor prompt_attention(const torch::Tensor& query, const torch::Tensor& key,
                               const torch::Tensor& value, int64_t causal_offset);

}  // namespace slowfast
