// Scaled dot-product attention with grouped key/value heads, on plain matrix products (no fused
// kernel exists on the CPU in libtorch 1.13); CUDA tensors go through
// at::scaled_dot_product_attention with libtorch >= 2.0.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace slowfast {

// Passed as causal_offset: every query row sees every key (no mask).
constexpr int64_t kAttendAllKeys = -1;
// Query rows are processed in blocks whose float32 scores hold about this many elements (16 MB):
// memory stays bounded whatever the lengths, and the allocator can recycle the blocks instead of
// mapping fresh pages for each (page faults cost ~30 us per 4 KiB page on some virtual machines).
constexpr int64_t kScoreElementsPerBlock = int64_t{1} << 22;

// query: [Lq, heads, D]; key, value: [KVH, Lk, D] with heads a multiple of KVH; query head h reads
// key/value head h / (heads / KVH). With causal_offset >= 0 query row i sees keys
// 0 .. causal_offset + i only. Scores scaled by 1/sqrt(D); the softmax runs in float32, the
// products in the inputs' dtype.
// -> [Lq, heads * D], heads concatenated
torch::Tensor grouped_attention(const torch::Tensor& query, const torch::Tensor& key,
                                const torch::Tensor& value, int64_t causal_offset,
                                int64_t score_elements_per_block = kScoreElementsPerBlock);

}  // namespace slowfast
