// Matrix-vector products with bfloat16 weights on CPUs with AVX512-BF16. Decoding multiplies every
// weight matrix by one row per sequence; there oneDNN 2.6 (libtorch 1.13) reaches about a quarter
// of the memory bandwidth, while this kernel streams each weight once at close to full bandwidth.
#pragma once

#include <torch/torch.h>

namespace slowfast {

// True when the CPU executes AVX512-BF16 (vdpbf16ps). Checked once.
bool bf16_gemv_supported();

// The most rows of x one call takes: a batched decode step (one row per sequence) reads each
// weight once for all of them.
constexpr int64_t kBf16GemvMaxRows = 64;

// True when bf16_gemv() applies: x [K] or [R, K] with 1 <= R <= kBf16GemvMaxRows and weight
// [N, K], both bfloat16 on the CPU, weight contiguous, and the CPU supports the kernel.
bool bf16_gemv_applies(const torch::Tensor& x, const torch::Tensor& weight);

// How the products are computed; both give bit-identical results.
enum class Bf16GemvPath {
  kDotProduct,  // vdpbf16ps: fastest where it issues at the FMA rate (AMD Zen 4)
  kFma,         // bf16 widened to float32 and two FMAs per pair: faster on Intel's cores
};

// The path bf16_gemv() takes on this CPU: kFma on Intel, kDotProduct elsewhere;
// SLOWFAST_BF16_GEMV=fma or =dpbf16 chooses one (a benchmark's comparison).
Bf16GemvPath bf16_gemv_default_path();

// x: [K] or [R, K] bfloat16, weight: [N, K] bfloat16, bias: [N] bfloat16 or undefined
// -> float32 [N] or [R, N]: x @ weight^T + bias, accumulated in float32 (round to bfloat16 to
// match a bfloat16 linear layer). Each row's result is bit-identical to computing that row alone.
// Weight rows are split across libtorch's intra-op threads.
torch::Tensor bf16_gemv(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias);
// x @ weight^T + bias rounded to bfloat16, shaped as x with N last: a bfloat16 linear layer's
// result (the float32 sum plus the bias, rounded once), with the bias and the rounding done
// beside the products instead of as further passes.
torch::Tensor bf16_linear(const torch::Tensor& x, const torch::Tensor& weight,
                          const torch::Tensor& bias);
// bf16_gemv() on the given path (tests compare them).
torch::Tensor bf16_gemv(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, Bf16GemvPath path);

}  // namespace slowfast
