// Run-time choice of device and dtype: CUDA only when libtorch sees a GPU, bfloat16 where it is
// the fast path (CUDA, or a CPU with AVX512-BF16 where oneDNN runs bf16 matrix products ~3x
// faster than float32).
#pragma once

#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {

bool cpu_has_avx512_bf16();
// Throws slowfast::Error when CUDA is asked for and unavailable.
torch::Device resolve_device(Device requested);
torch::ScalarType resolve_dtype(DType requested, const torch::Device& device);

}  // namespace slowfast
