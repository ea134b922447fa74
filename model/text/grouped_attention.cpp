#include "text/grouped_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {

torch::Tensor grouped_attention(const torch::Tensor& query, const torch::Tensor& key,
                                const torch::Tensor& value, int64_t causal_offset,
                                int64_t score_elements_per_block) {
  if (query.dim() != 3 || key.dim() != 3 || value.dim() != 3 || key.sizes() != value.sizes() ||
      query.size(2) != key.size(2) || key.size(0) == 0 || query.size(1) % key.size(0) != 0) {
    throw Error("attention: incompatible shapes query " + c10::str(query.sizes()) + ", key " +
                c10::str(key.sizes()) + ", value " + c10::str(value.sizes()));
  }
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
