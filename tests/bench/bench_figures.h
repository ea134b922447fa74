// Machine limits and analytic model costs for the benchmarks: the bf16/fp32 matmul rate and the
// read bandwidth of this machine (measured the way bench_text does), and FLOP counts of the
// ConvNeXt tower, the projector and one prefill, so a timing can be stated as a share of a limit.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/bf16_gemm.h"
#include "util/clock.h"
#include "vision/convnext.h"

namespace slowfast::bench {

// Best of `runs` timings of fn().
template <typename Fn>
double best_seconds(int runs, Fn fn) {
  double best = 1e30;
  for (int run = 0; run < runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, seconds_since(start));
  }
  return best;
}

// The product of two 2048x2048 matrices in `dtype`, best of 8, in GFLOP/s: torch::mm, and in
// bfloat16 also the engine's own kernel (bf16_gemm) where it applies, whichever is faster, as
// the engine's linear layers take the faster one.
inline double matmul_gflops(torch::ScalarType dtype) {
  const int64_t n = 2048;
  const torch::Tensor a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  torch::mm(a, b);  // oneDNN builds its kernel on first use
  double seconds = best_seconds(8, [&] { torch::mm(a, b); });
  if (bf16_gemm_applies(a, b)) {
    seconds = std::min(seconds, best_seconds(8, [&] { bf16_gemm_linear(a, b, {}); }));
  }
  return 2.0 * n * n * n / seconds / 1e9;
}

// Summing a 1 GiB float32 tensor, best of 5, in GB/s.
inline double read_bandwidth_gbs() {
  const torch::Tensor big = torch::ones({int64_t{1} << 28}, torch::kFloat32);
  const double seconds = best_seconds(5, [&] { big.sum().item<float>(); });
  return big.nbytes() / seconds / 1e9;
}

// Multiply-adds x 2 of every convolution and linear layer of the tower for one frame.
inline double convnext_flops_per_frame(const VisionConfig& config) {
  double flops = 0;
  int64_t side = config.image_size / kConvNeXtStemPatch;
  flops += 2.0 * side * side * config.dims[0] * 3 * kConvNeXtStemPatch * kConvNeXtStemPatch;
  for (size_t s = 0; s < config.dims.size(); ++s) {
    const double c = static_cast<double>(config.dims[s]);
    if (s > 0) {
      side /= kConvNeXtDownsampleStride;
      flops += 2.0 * side * side * c * config.dims[s - 1] * kConvNeXtDownsampleStride *
               kConvNeXtDownsampleStride;
    }
    const double per_position =
        2.0 * c * kConvNeXtKernel * kConvNeXtKernel + 2.0 * 2.0 * c * kConvNeXtMlpRatio * c;
    flops += config.depths[s] * per_position * side * side;
  }
  return flops;
}

// The mlp2x_gelu projector on one frame's (image_size / 32)^2 tokens.
inline double projector_flops_per_frame(const Config& config) {
  const double tokens = static_cast<double>(config.vision.grid_size() * config.vision.grid_size());
  const double h = config.hidden_size;
  return 2.0 * tokens * h * (config.mm_hidden_size + h);
}

// Useful floating-point operations of one prefill of `length` positions, `text` of them text rows
// (the only rows that cross-attend), over `memory` slow tokens: linear layers, the causal half of
// self-attention, memory projection and cross-attention of the hybrid layers, lm_head on the last
// position.
inline double prefill_flops(const Config& c, int64_t length, int64_t text, int64_t memory) {
  const double h = c.hidden_size, d = c.head_dim(), heads = c.num_attention_heads;
  const double kv = c.num_key_value_heads * d;
  const double linear_per_token = 2.0 * (h * (h + 2 * kv) + h * h + 3.0 * h * c.intermediate_size);
  const double self_attention = 4.0 * heads * d * (length * (length + 1) / 2.0);
  const double hybrid = 2.0 * memory * h * 2 * kv          // memory keys and values
                        + 4.0 * heads * d * text * memory  // text rows x memory
                        + 2.0 * text * h;                  // gate
  const double layers = c.num_hidden_layers * (linear_per_token * length + self_attention) +
                        c.hybrid_layers().size() * hybrid;
  return layers + 2.0 * h * c.vocab_size;
}

}  // namespace slowfast::bench
