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
    // Both bounds in one read-back (one synchronisation when the ids are on a GPU).
    const torch::Tensor bounds = torch::stack({ids.min(), ids.max()}).to(torch::kCPU, torch::kLong);
    const int64_t low = bounds[0].item<int64_t>();
    const int64_t high = bounds[1].item<int64_t>();
    if (low < 0 || high >= weight.size(0)) {
      throw Error("embed_tokens: token id " + std::to_string(low < 0 ? low : high) +
                  " outside the vocabulary of " + std::to_string(weight.size(0)));
    }
  }
  return weight.index_select(0, ids.to(weight.device(), torch::kLong));
}

torch::Tensor EmbeddingImpl::forward_in_range(const torch::Tensor& ids) {
  return weight.index_select(0, ids);
}

}  // namespace slowfast
