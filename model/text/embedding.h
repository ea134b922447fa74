// Token embedding table with an uninitialised "weight" (see linear.h for why).
#pragma once

#include <torch/torch.h>

namespace slowfast {

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t dim, const torch::TensorOptions& options);

  // ids: [L] int64 -> [L, dim]. Throws slowfast::Error for an id outside the table.
  torch::Tensor forward(const torch::Tensor& ids);
  // ids: [L] int64 on the table's device, already known to lie inside the table (a sampled id,
  // checked on the host) -> [L, dim]. No range check: on a GPU it would read the ids back.
  torch::Tensor forward_in_range(const torch::Tensor& ids);

  torch::Tensor weight;  // [num_embeddings, dim]
};
TORCH_MODULE(Embedding);

}  // namespace slowfast
