#include "text/rope.h"

#include <string>

#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {

torch::Tensor rope_inverse_frequencies(int64_t head_dim, double theta,
                                       const torch::Device& device) {
  if (head_dim <= 0 || head_dim % 2 != 0) {
    throw Error("rotary embedding: head dimension " + std::to_string(head_dim) +
                " must be positive and even");
  }
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const torch::Tensor exponents =
      torch::arange(0, head_dim, 2, f32) / static_cast<double>(head_dim);
  return torch::pow(theta, exponents).reciprocal();
}

RopeTables rope_tables(int64_t start, int64_t length, int64_t head_dim, double theta,
                       torch::ScalarType dtype, const torch::Device& device) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const torch::Tensor positions = torch::arange(start, start + length, f32);
  const torch::Tensor angles =
      torch::outer(positions, rope_inverse_frequencies(head_dim, theta, device));  // [L, D/2]
  const torch::Tensor both_halves = torch::cat({angles, angles}, -1);              // [L, D]
  return {both_halves.cos().to(dtype), both_halves.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& tables) {
  const int64_t half = x.size(-1) / 2;
  const torch::Tensor rotated_half =
      torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  const torch::Tensor cos = tables.cos.unsqueeze(1);  // [L, 1, D] broadcast over heads
  const torch::Tensor sin = tables.sin.unsqueeze(1);
  return x * cos + rotated_half * sin;
}

}  // namespace slowfast
