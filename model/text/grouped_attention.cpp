#include "text/grouped_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <torch/torch.h>
#include <torch/version.h>

#include "slowfast.h"

namespace slowfast {
namespace {

#if TORCH_VERSION_MAJOR >= 2
// grouped_attention() through at::scaled_dot_product_attention (fused kernels on a GPU), same
// arguments and result. Scale 1/sqrt(D) is its default; a bool mask there is true where a key
// takes part.
torch::Tensor fused_grouped_attention(const torch::Tensor& query, const torch::Tensor& key,
                                      const torch::Tensor& value, int64_t causal_offset,
                                      int64_t score_elements_per_block) {
  const int64_t query_len = query.size(0);
  const int64_t heads = query.size(1);
  const int64_t head_dim = query.size(2);
  const int64_t kv_heads = key.size(0);
  const int64_t groups = heads / kv_heads;
  const int64_t key_len = key.size(1);

  // Every row sees every key (cross-attention, decode steps): rows are independent, so the G
  // query heads of a key/value head become G * Lq rows of that head and the keys (views of the
  // cache) are read in place, never repeated per query head.
  if (causal_offset < 0 || causal_offset >= key_len - 1) {
    const torch::Tensor rows = query.view({query_len, kv_heads, groups, head_dim})
                                   .permute({1, 2, 0, 3})
                                   .reshape({1, kv_heads, groups * query_len, head_dim});
    const torch::Tensor context =
        at::scaled_dot_product_attention(rows, key.unsqueeze(0), value.unsqueeze(0));
    return context.reshape({kv_heads, groups, query_len, head_dim})
        .permute({2, 0, 1, 3})
        .reshape({query_len, heads * head_dim});
  }

  // Causal: each query head needs its own mask rows, so the key/value heads are repeated to the
  // query heads (head h reads h / G), as SDPA has no grouped form before 2.5.
  const auto to_query_heads = [&](const torch::Tensor& t) {  // [KVH, Lk, D] -> [1, heads, Lk, D]
    return t.unsqueeze(1)
        .expand({kv_heads, groups, key_len, head_dim})
        .reshape({1, heads, key_len, head_dim});
  };
  const torch::Tensor all_query = query.transpose(0, 1).unsqueeze(0);  // [1, heads, Lq, D]
  const torch::Tensor all_key = to_query_heads(key);
  const torch::Tensor all_value = to_query_heads(value);
  torch::Tensor context;  // [1, heads, Lq, D]
  if (causal_offset == 0 && query_len == key_len) {
    // A fresh prompt: SDPA's own (top-left aligned) causal mask is this one.
    context = at::scaled_dot_product_attention(all_query, all_key, all_value, {}, 0.0,
                                               /*is_causal=*/true);
  } else {
    // A prompt continuing a cache: row i sees keys 0 .. causal_offset + i, an explicit mask. Row
    // blocks as in the CPU path bound the scores where SDPA falls back to its math kernel.
    context = torch::empty({1, heads, query_len, head_dim}, query.options());
    const auto bool_options = torch::TensorOptions().dtype(torch::kBool).device(query.device());
    const int64_t block_rows =
        std::clamp<int64_t>(score_elements_per_block / std::max<int64_t>(1, heads * key_len), 1,
                            std::max<int64_t>(1, query_len));
    for (int64_t first = 0; first < query_len; first += block_rows) {
      const int64_t rows = std::min(block_rows, query_len - first);
      const int64_t visible = std::min(key_len, causal_offset + first + rows);
      const torch::Tensor visible_keys =
          torch::ones({rows, visible}, bool_options).tril(causal_offset + first);
      context.narrow(2, first, rows)
          .copy_(at::scaled_dot_product_attention(all_query.narrow(2, first, rows),
                                                  all_key.narrow(2, 0, visible),
                                                  all_value.narrow(2, 0, visible), visible_keys));
    }
  }
  return context.squeeze(0).transpose(0, 1).reshape({query_len, heads * head_dim});
}
#endif

}  // namespace

torch::Tensor grouped_attention(const torch::Tensor& query, const torch::Tensor& key,
                                const torch::Tensor& value, int64_t causal_offset,
                                int64_t score_elements_per_block) {
  if (query.dim() != 3 || key.dim() != 3 || value.dim() != 3 || key.sizes() != value.sizes() ||
      query.size(2) != key.size(2) || key.size(0) == 0 || query.size(1) % key.size(0) != 0) {
    throw Error("attention: incompatible shapes query " + c10::str(query.sizes()) + ", key " +
                c10::str(key.sizes()) + ", value " + c10::str(value.sizes()));
  }
#if TORCH_VERSION_MAJOR >= 2
  // The CPU keeps the blocks below (its numbers are the reference's to 1e-5).
  if (query.is_cuda()) {
    return fused_grouped_attention(query, key, value, causal_offset, score_elements_per_block);
  }
#endif
  const int64_t query_len = query.size(0);
  const int64_t heads = query.size(1);
  const int64_t head_dim = query.size(2);
  const int64_t kv_heads = key.size(0);
  const int64_t groups = heads / kv_heads;
  const int64_t key_len = key.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));

  // [KVH, G, Lq, D]: the G query heads sharing a key/value head become extra rows of one matrix
  // product instead of copies of the keys.
  const torch::Tensor grouped_query =
      query.view({query_len, kv_heads, groups, head_dim}).permute({1, 2, 0, 3});
  torch::Tensor output = torch::empty({query_len, kv_heads, groups, head_dim}, query.options());
  const int64_t block_rows =
      std::clamp<int64_t>(score_elements_per_block / std::max<int64_t>(1, heads * key_len), 1,
                          std::max<int64_t>(1, query_len));

  for (int64_t first = 0; first < query_len; first += block_rows) {
    const int64_t rows = std::min(block_rows, query_len - first);
    // Keys after the block's last visible position are masked for every row: leave them out.
    const int64_t visible =
        causal_offset < 0 ? key_len : std::min(key_len, causal_offset + first + rows);
    // Row r (absolute first + r) may not see keys j > causal_offset + first + r.
    torch::Tensor hidden_keys;
    if (causal_offset >= 0 && causal_offset + first + 1 < visible) {
      hidden_keys = torch::ones({rows, visible},
                                torch::TensorOptions().dtype(torch::kBool).device(query.device()))
                        .triu(causal_offset + first + 1);
    }
    // One 2-D product per key/value head: key[h] rows are contiguous even when `key` is a
    // narrowed view of a longer cache, which batched products would copy first.
    for (int64_t kv_head = 0; kv_head < kv_heads; ++kv_head) {
      const torch::Tensor head_query =
          grouped_query[kv_head].narrow(1, first, rows).reshape({groups * rows, head_dim});
      const torch::Tensor head_key = key[kv_head].narrow(0, 0, visible);
      const torch::Tensor head_value = value[kv_head].narrow(0, 0, visible);
      torch::Tensor scores =
          torch::mm(head_query, head_key.t()).to(torch::kFloat32).mul_(scale);  // [G*rows, vis]
      if (hidden_keys.defined()) {
        scores.view({groups, rows, visible})
            .masked_fill_(hidden_keys, -std::numeric_limits<float>::infinity());
      }
      const torch::Tensor probabilities = torch::softmax(scores, -1).to(value.scalar_type());
      const torch::Tensor context = torch::mm(probabilities, head_value);  // [G*rows, D]
      output.narrow(0, first, rows)
          .select(1, kv_head)
          .copy_(context.view({groups, rows, head_dim}).transpose(0, 1));
    }
  }
  return output.view({query_len, heads * head_dim});
}

}  // namespace slowfast
