#include "text/embedding.h"

#include <string>

#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {

EmbeddingImpl::EmbeddingImpl(int64_t num_embeddings, int64_t dim,
                             const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({num_embeddings, dim}, options),
                              /*requires_grad=*/false);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) {
  if (ids.dim() != 1) {
    throw Error("embed_tokens: expected 1-D token ids, got " + std::to_string(ids.dim()) +
                " dimensions");
  }
  if (ids.numel() > 0) {
    const int64_t low = ids.min().item<int64_t>();
    const int64_t high = ids.max().item<int64_t>();
    if (low < 0 || high >= weight.size(0)) {
      throw Error("embed_tokens: token id " + std::to_string(low < 0 ? low : high) +
                  " outside the vocabulary of " + std::to_string(weight.size(0)));
    }
  }
  return weight.index_select(0, ids.to(weight.device(), torch::kLong));
}

}  // namespace slowfast
