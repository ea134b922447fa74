#include "device.h"

#include <torch/cuda.h>

namespace slowfast {

const char* to_string(Device device) {
  switch (device) {
    case Device::Auto:
      return "auto";
    case Device::Cpu:
      return "cpu";
    case Device::Cuda:
      return "cuda";
  }
  return "?";
}

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::Auto:
      return "auto";
    case DType::Float32:
      return "float32";
    case DType::BFloat16:
      return "bfloat16";
  }
  return "?";
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

torch::Device resolve_device(Device requested) {
  const bool cuda = torch::cuda::is_available();
  switch (requested) {
    case Device::Cpu:
      return torch::kCPU;
    case Device::Cuda:
      if (!cuda) {
        throw Error(
            "device 'cuda' requested, but libtorch sees no CUDA device (this build or this machine "
            "has none); use device 'cpu' or 'auto'");
      }
      return torch::Device(torch::kCUDA, 0);
    case Device::Auto:
      break;
  }
  return cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

torch::ScalarType resolve_dtype(DType requested, const torch::Device& device) {
  switch (requested) {
    case DType::Float32:
      return torch::kFloat32;
    case DType::BFloat16:
      return torch::kBFloat16;
    case DType::Auto:
      break;
  }
  if (device.is_cuda() || cpu_has_avx512_bf16()) return torch::kBFloat16;
  return torch::kFloat32;
}

}  // namespace slowfast
