// Matrix products with bfloat16 weights and many activation rows (a prefill's prompt, a frame's
// pixels) on Intel CPUs with AVX512. There oneDNN 2.6 (libtorch 1.13) multiplies bfloat16 through
// vdpbf16ps, which the development Xeon issues at a quarter of its float32 FMA rate (about
// 145 GFLOP/s on 2 cores); this kernel widens both operands to float32 and uses FMAs instead.
#pragma once

#include <torch/torch.h>

namespace slowfast {

// True when bf16_gemm_linear() applies: x [..., K] bfloat16 with more rows than bf16_gemv takes
// (kBf16GemvMaxRows), weight [N, K] bfloat16 contiguous with N, K >= 64, both on the CPU, and
// the CPU is one where bf16_gemv takes its FMA path (bf16_gemv_default_path()).
bool bf16_gemm_applies(const torch::Tensor& x, const torch::Tensor& weight);

// x @ weight^T + bias rounded to bfloat16, shaped as x with N last: a bfloat16 linear layer's
// result. Each value is the float32 sum of its K products taken in order of k (exact products,
// one rounding per addition, denormals flushed as vdpbf16ps does), plus the bias, rounded once
// to nearest even. So a row's result does not depend on the other rows, the thread count or
// the blocking. bias: [N] bfloat16 or undefined. Rows are split into weight-row blocks across
// libtorch's intra-op threads.
torch::Tensor bf16_gemm_linear(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias);

}  // namespace slowfast
