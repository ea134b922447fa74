// Strict loading of a checkpoint into a module tree whose parameter paths equal tensor names.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "checkpoint/safetensors.h"

namespace slowfast {

struct LoadWeightsOptions {
  torch::ScalarType dtype = torch::kFloat32;  // parameters end up in this dtype
  torch::Device device = torch::kCPU;
  // Checkpoint tensors under these prefixes are skipped on purpose (logged at debug level),
  // e.g. "model.vision_tower.vision_tower.head." which inference never uses.
  std::vector<std::string> ignored_prefixes;
  // Copy CPU tensors whose stored dtype is already the run's into anonymous memory (huge pages
  // where the kernel gives them) instead of sharing the checkpoint's page-cache mapping: decode
  // streams every weight per token, and on some machines a large file mapping streams at half
  // the speed of anonymous memory. Costs a copy at load and the sharing between processes.
  bool in_memory = false;
  // Called after each tensor is placed with (tensors placed, tensors in all).
  std::function<void(size_t done, size_t total)> on_tensor;
};

// Every parameter and buffer of `root` (by its full dotted path) must be in `checkpoint` with the
// same shape, and every checkpoint tensor must be used or ignored on purpose. All missing,
// unexpected and mis-shaped tensors are reported by name in one slowfast::Error. Where the stored
// dtype equals options.dtype on the CPU, parameters share the mapped memory (no copy) unless
// options.in_memory.
void load_weights(torch::nn::Module& root, const Checkpoint& checkpoint,
                  const LoadWeightsOptions& options);

}  // namespace slowfast
