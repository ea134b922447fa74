// The SwiGLU activation silu(gate) * up for bfloat16 on the CPU, in one pass. A bfloat16 has only
// 65,536 values, so silu is a table of libtorch's own results: the same values as torch::silu_
// followed by mul_, without their per-op passes and dispatch (about 1.1 ms of a window's prefill
// per layer and 80 us per layer of an eight-answer decode step on the development machine).
#pragma once

#include <torch/torch.h>

namespace slowfast {

// True when bf16_silu_multiply_() applies: gate and up bfloat16, on the CPU, contiguous, the same
// shape, and neither needs gradients.
bool bf16_silu_multiply_applies(const torch::Tensor& gate, const torch::Tensor& up);

// gate = silu(gate) * up, in place. Each value is libtorch's bfloat16 silu of its gate value (as
// its vectorised loop computes it: every value of a row whose length is a multiple of 64) times
// its up value, the exact product rounded once to nearest even. So a value does not depend on the
// row count, the other rows or the thread count. Elements are split over the threads as
// parallel_rows() (layers/kernel_threads.h) splits a kernel's rows.
void bf16_silu_multiply_(torch::Tensor& gate, const torch::Tensor& up);

}  // namespace slowfast
