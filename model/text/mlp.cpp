#include "text/mlp.h"

#include <algorithm>

#include <torch/torch.h>

#include "layers/bf16_silu.h"
#include "layers/kernel_threads.h"

namespace slowfast {
namespace {

// Rows per block: about 4M intermediate activations (8 MB in bfloat16).
constexpr int64_t kIntermediateElementsPerBlock = int64_t{1} << 22;
// Up to this many float32 rows (a decode step's answers) the activation runs row by row on the
// kernel threads: libtorch's own loops took about 150 us a layer for 8 rows of Qwen's 4,864. Row
// by row, a row's values also go through the same vector and scalar code however many rows are in
// the step (libtorch vectorises the flat tensor, whose tail depends on the row count when the
// width is not a multiple of the vector).
constexpr int64_t kRowwiseActivationRows = 64;

// gate = silu(gate) * up, in place. gate, up: [R, I]
void silu_multiply(torch::Tensor& gate, const torch::Tensor& up) {
  // bfloat16, any row count: one pass per value, the same values for a row alone or in a batch.
  if (bf16_silu_multiply_applies(gate, up)) return bf16_silu_multiply_(gate, up);
  if (gate.size(0) == 1 || gate.size(0) > kRowwiseActivationRows || !gate.is_cpu()) {
    torch::silu_(gate);
    gate.mul_(up);
    return;
  }
  // The kernel threads take the caller's inference mode, which is per thread in libtorch.
  const bool inference = c10::InferenceMode::is_enabled();
  parallel_chunks(0, gate.size(0), 1, [&](int64_t begin, int64_t end) {
    c10::InferenceMode mode(inference);
    for (int64_t row = begin; row < end; ++row) {
      torch::Tensor gate_row = gate[row];
      torch::silu_(gate_row);
      gate_row.mul_(up[row]);
    }
  });
}

}  // namespace

MlpImpl::MlpImpl(const Config& config, const torch::TensorOptions& options) {
  const int64_t hidden = config.hidden_size;
  const int64_t inner = config.intermediate_size;
  gate_proj = register_module("gate_proj", Linear(hidden, inner, false, options));
  up_proj = register_module("up_proj", Linear(hidden, inner, false, options));
  down_proj = register_module("down_proj", Linear(inner, hidden, false, options));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  if (torch::GradMode::is_enabled()) {
    // Training (the demo model's trainer): out-of-place, whole rows.
    return down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
  }
  const auto block = [&](const torch::Tensor& rows) {
    // In place on the fresh projections: no further [rows, intermediate] temporaries.
    torch::Tensor gate = gate_proj->forward(rows);
    silu_multiply(gate, up_proj->forward(rows));
    return down_proj->forward(gate);
  };
  const int64_t length = x.size(0);
  const int64_t block_rows =
      std::max<int64_t>(1, kIntermediateElementsPerBlock / gate_proj->weight.size(0));
  if (length <= block_rows) return block(x);
  // Long prompts in row blocks: the [rows, intermediate] activations stay small enough for the
  // allocator to recycle them instead of mapping (and page-faulting) fresh memory every layer.
  torch::Tensor out = torch::empty({length, down_proj->weight.size(0)}, x.options());
  for (int64_t first = 0; first < length; first += block_rows) {
    const int64_t rows = std::min(block_rows, length - first);
    out.narrow(0, first, rows).copy_(block(x.narrow(0, first, rows)));
  }
  return out;
}

}  // namespace slowfast
