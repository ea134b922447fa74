// Token embedding table with an uninitialised "weight" (see linear.h for why).
#pragma once

#include <torch/torch.h>

namespace slowfast {

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t dim, const torch::TensorOptions& options);

  // ids: [L] int64 -> [L, dim]. Throws slowfast::Error for an id outside the table.
  torch::Tensor forward(const torch::Tensor& ids);

  torch::Tensor weight;  // [num_embeddings, dim]
};
TORCH_MODULE(Embedding);

}  // namespace slowfast
