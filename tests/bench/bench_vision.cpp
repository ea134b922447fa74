// Vision benchmark (docs/performance.md, "Vision"): this machine's matrix-product peak, then the
// ConvNeXt tower at the release's widths with fewer blocks (depths [1, 1, 3, 1]) at 576 px, in
// bfloat16 and float32, as achieved GFLOP/s and share of the measured bf16 peak; a per-operation
// breakdown of one block per stage; and preprocessing of a 1080p frame.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/random_init.h"
#include "slowfast.h"
#include "vision/convnext.h"
#include "vision/preprocess.h"

namespace {

using slowfast::VisionConfig;

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best of `reps` timed runs after one warm-up: the machine may be shared, the minimum is the
// least disturbed figure.
double best_seconds(const std::function<void()>& run, int reps) {
  run();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double start = seconds_now();
    run();
    best = std::min(best, seconds_now() - start);
  }
  return best;
}

double matmul_gflops(torch::ScalarType dtype, int64_t n, int reps) {
  const torch::Tensor a = torch::randn({n, n}).to(dtype);
  const torch::Tensor b = torch::randn({n, n}).to(dtype);
  const double s = best_seconds([&] { torch::mm(a, b); }, reps);
  return 2.0 * n * n * n / s / 1e9;
}

// Multiply-adds x 2 of every convolution and linear layer of the tower for one frame.
double convnext_flops_per_frame(const VisionConfig& config) {
  double flops = 0;
  int64_t side = config.image_size / slowfast::kConvNeXtStemPatch;
  flops += 2.0 * side * side * config.dims[0] * 3 * slowfast::kConvNeXtStemPatch *
           slowfast::kConvNeXtStemPatch;
  for (size_t s = 0; s < config.dims.size(); ++s) {
    const double c = static_cast<double>(config.dims[s]);
    if (s > 0) {
      side /= slowfast::kConvNeXtDownsampleStride;
      flops += 2.0 * side * side * c * config.dims[s - 1] * slowfast::kConvNeXtDownsampleStride *
               slowfast::kConvNeXtDownsampleStride;
    }
    const double per_position = 2.0 * c * slowfast::kConvNeXtKernel * slowfast::kConvNeXtKernel +
                                2.0 * 2.0 * c * slowfast::kConvNeXtMlpRatio * c;
    flops += config.depths[s] * per_position * side * side;
  }
  return flops;
}

double block_flops(int64_t channels, int64_t side) {
  return side * side *
         (2.0 * channels * slowfast::kConvNeXtKernel * slowfast::kConvNeXtKernel +
          2.0 * 2.0 * channels * slowfast::kConvNeXtMlpRatio * channels);
}

// One block of each stage at its width and resolution for one frame (the tower's frame group at
// 576 px in bf16), as the tower runs it; each timing paired with a bf16 peak measured just
// before. Prints the blocks and, from them, an estimate for the release tower's depths.
void block_breakdown(torch::ScalarType dtype, const VisionConfig& config,
                     double tower_seconds_per_frame) {
  std::printf("  one block per stage, %s, 1 frame:\n", c10::toString(dtype));
  const std::vector<int64_t> release_depths = {3, 4, 30, 3};
  int64_t side = config.image_size / slowfast::kConvNeXtStemPatch;
  double bench_blocks = 0;    // seconds of the benchmark tower's blocks
  double release_blocks = 0;  // seconds of the release tower's blocks
  double release_flops = 0;
  double peak_sum = 0;
  for (size_t s = 0; s < config.dims.size(); ++s) {
    if (s > 0) side /= slowfast::kConvNeXtDownsampleStride;
    const int64_t c = config.dims[s];
    slowfast::ConvNeXtBlock block(c, config.norm_eps, torch::TensorOptions().dtype(dtype));
    slowfast::init_random_parameters(*block, 0);
    const torch::Tensor x =
        torch::randn({1, c, side, side}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
    block->forward(x);  // warm-up
    const double peak = matmul_gflops(torch::kBFloat16, 2048, 3);
    const double s_block = best_seconds([&] { block->forward(x); }, 2);
    const double gflops = block_flops(c, side) / s_block / 1e9;
    std::printf(
        "    stage %zu (%lldx%lld, C %lld): %.0f ms, %.1f GFLOP/s; peak just before "
        "%.1f GFLOP/s -> %.0f%%\n",
        s, static_cast<long long>(side), static_cast<long long>(side), static_cast<long long>(c),
        s_block * 1e3, gflops, peak, 100.0 * gflops / peak);
    bench_blocks += config.depths[s] * s_block;
    release_blocks += release_depths[s] * s_block;
    release_flops += release_depths[s] * block_flops(c, side);
    peak_sum += peak;
  }
  // Stem and downsampling as measured in the benchmark tower (the same in both towers).
  const double rest = std::max(0.0, tower_seconds_per_frame - bench_blocks);
  VisionConfig release = config;
  release.depths = release_depths;
  const double seconds = release_blocks + rest;
  const double gflops = convnext_flops_per_frame(release) / seconds / 1e9;
  std::printf(
      "  release tower (depths [3, 4, 30, 3]) estimated from these blocks plus the "
      "measured stem/downsampling (%.2f s): %.1f s per frame, %.1f GFLOP/s = %.0f%% of "
      "the mean paired peak\n",
      rest, seconds, gflops, 100.0 * gflops / (peak_sum / config.dims.size()));
}

}  // namespace

int main() {
  torch::InferenceMode inference;
  const int threads = 2;
  torch::set_num_threads(threads);
  std::printf("Vision benchmark: %d intra-op threads, libtorch %s, oneDNN %s\n", threads,
              TORCH_VERSION, at::hasMKLDNN() ? "yes" : "no");

  // 1. Matrix-product peak of this machine, measured in this run.
  double peak_bf16 = 0;
  double peak_f32 = 0;
  for (const int64_t n : {2048, 4096}) {
    const double bf16 = matmul_gflops(torch::kBFloat16, n, n == 2048 ? 10 : 4);
    const double f32 = matmul_gflops(torch::kFloat32, n, n == 2048 ? 6 : 2);
    std::printf("  torch::mm %lldx%lld: bf16 %.1f GFLOP/s, fp32 %.1f GFLOP/s\n",
                static_cast<long long>(n), static_cast<long long>(n), bf16, f32);
    peak_bf16 = std::max(peak_bf16, bf16);
    peak_f32 = std::max(peak_f32, f32);
  }
  std::printf("  peak: bf16 %.1f GFLOP/s, fp32 %.1f GFLOP/s\n", peak_bf16, peak_f32);

  // 2. The tower at the release's widths.
  VisionConfig config;
  config.depths = {1, 1, 3, 1};
  config.dims = {384, 768, 1536, 3072};
  config.image_size = 576;
  config.norm_eps = 1e-5;
  const int64_t frames = 2;
  const double flops = convnext_flops_per_frame(config) * frames;
  std::printf(
      "ConvNeXt depths [1, 1, 3, 1], dims [384, 768, 1536, 3072], 576 px, %lld frames: "
      "%.1f GFLOP per frame\n",
      static_cast<long long>(frames), flops / frames / 1e9);
  torch::manual_seed(0);
  const torch::Tensor pixels = torch::randn({frames, 3, config.image_size, config.image_size});
  // Other jobs share the machine, so each timed forward pass is paired with a bf16 peak
  // measurement taken just before it, and the share is computed per pair.
  double bf16_seconds_per_frame = 0;
  for (const torch::ScalarType dtype : {torch::kBFloat16, torch::kFloat32}) {
    slowfast::ConvNeXt tower(config, torch::TensorOptions().dtype(dtype));
    slowfast::init_random_parameters(*tower, 0);
    torch::Tensor out = tower->forward(pixels);  // warm-up
    double best_share = 0;
    double best_gflops = 0;
    double best_seconds_per_frame = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const double peak = matmul_gflops(torch::kBFloat16, 2048, 3);
      const double start = seconds_now();
      out = tower->forward(pixels);
      const double s = seconds_now() - start;
      const double gflops = flops / s / 1e9;
      std::printf(
          "  %s run %d: %.2f s per batch (%.2f s per frame), %.1f GFLOP/s; bf16 peak just "
          "before: %.1f GFLOP/s -> %.0f%% of peak\n",
          c10::toString(dtype), rep + 1, s, s / frames, gflops, peak, 100.0 * gflops / peak);
      best_share = std::max(best_share, gflops / peak);
      best_gflops = std::max(best_gflops, gflops);
      best_seconds_per_frame = std::min(best_seconds_per_frame, s / frames);
    }
    if (dtype == torch::kBFloat16) bf16_seconds_per_frame = best_seconds_per_frame;
    const double xxl_flops = convnext_flops_per_frame(
        VisionConfig{{3, 4, 30, 3}, config.dims, config.image_size, config.norm_eps});
    std::printf(
        "  %s best: %.1f GFLOP/s, %.0f%% of the bf16 peak (target >= 40%% in bf16); the "
        "release tower (depths [3, 4, 30, 3], %.0f GFLOP/frame) would take %.1f s per "
        "frame; output [%lld, %lld, %lld]\n",
        c10::toString(dtype), best_gflops, 100.0 * best_share, xxl_flops / 1e9,
        xxl_flops / (best_gflops * 1e9), static_cast<long long>(out.size(0)),
        static_cast<long long>(out.size(1)), static_cast<long long>(out.size(2)));
  }
  block_breakdown(torch::kBFloat16, config, bf16_seconds_per_frame);

  // 3. Preprocessing of a 1080p frame (resize 1920x1080 -> 1024x576, crop, normalise).
  const torch::Tensor frame = torch::randint(0, 256, {1, 1080, 1920, 3}, torch::kUInt8);
  const double s_pre =
      best_seconds([&] { slowfast::preprocess_frames(frame, config.image_size); }, 5);
  std::printf("Preprocess 1920x1080 -> 576x576: %.1f ms per frame\n", s_pre * 1e3);
  return 0;
}
