// NumPy .npy files (format 1.0-3.0, C order, little-endian): uint8, int32, int64, float16,
// float32, float64, bool.
#pragma once

#include <string>

#include <torch/torch.h>

namespace slowfast {

// Reads `path` into a CPU tensor of the file's dtype and shape. Throws slowfast::Error naming the
// file and the problem (not .npy, Fortran order, big-endian, unsupported dtype, truncated).
torch::Tensor read_npy(const std::string& path);
// Writes a CPU tensor (made contiguous) as .npy format 1.0.
void write_npy(const std::string& path, const torch::Tensor& tensor);

}  // namespace slowfast
