#include "layers/bf16_silu.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include <torch/torch.h>

#include "layers/kernel_threads.h"
#include "layers/kernel_util.h"
#include "slowfast.h"

// GCC 12's AVX512 intrinsics pass _mm512_undefined_*() as the unused merge source, which its own
// -Wmaybe-uninitialized reports at every inlined call (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slowfast {
namespace {

constexpr int64_t kValues = int64_t{1} << 16;
// Elements per chunk of a parallel call: below this one thread does it all (a decode step's
// single row of 4,864 takes about 2 us).
constexpr int64_t kGrain = 8192;

// silu of every bfloat16 bit pattern, widened to float32, from torch::silu itself. 65,536 values
// are one flat loop that libtorch splits into at most two aligned halves, all vectorised.
const std::vector<float>& silu_table() {
  static const std::vector<float> table = [] {
    c10::InferenceMode inference;
    const torch::Tensor bits = torch::arange(kValues, torch::kInt32).to(torch::kInt16);
    const torch::Tensor silu =
        torch::silu(bits.view(torch::kBFloat16)).to(torch::kFloat32).contiguous();
    return std::vector<float>(silu.data_ptr<float>(), silu.data_ptr<float>() + kValues);
  }();
  return table;
}

void silu_multiply_scalar(uint16_t* gate, const uint16_t* up, int64_t count, const float* table) {
  for (int64_t i = 0; i < count; ++i) {
    uint32_t up_bits = uint32_t{up[i]} << 16;
    float up_value;
    std::memcpy(&up_value, &up_bits, sizeof up_value);
    const at::BFloat16 product(table[gate[i]] * up_value);
    gate[i] = product.x;
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void silu_multiply_avx512(uint16_t* gate,
                                                                               const uint16_t* up,
                                                                               int64_t count,
                                                                               const float* table) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 mask = lane_mask(count - i);
    const __m512i index = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, gate + i));
    const __m512 silu = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, index, table, 4);
    const __m512 product = _mm512_mul_ps(silu, load_widened(mask, up + i));
    _mm256_mask_storeu_epi16(gate + i, mask, round_bf16(product));
  }
}

}  // namespace

bool bf16_silu_multiply_applies(const torch::Tensor& gate, const torch::Tensor& up) {
  return gate.scalar_type() == torch::kBFloat16 && up.scalar_type() == torch::kBFloat16 &&
         gate.is_cpu() && up.is_cpu() && gate.is_contiguous() && up.is_contiguous() &&
         gate.sizes() == up.sizes() && !gate.requires_grad() && !up.requires_grad();
}

void bf16_silu_multiply_(torch::Tensor& gate, const torch::Tensor& up) {
  if (!bf16_silu_multiply_applies(gate, up)) {
    throw Error(
        "bf16_silu_multiply_: needs contiguous bfloat16 CPU tensors of one shape; got gate " +
        c10::str(gate.sizes()) + " " + c10::toString(gate.scalar_type()) + ", up " +
        c10::str(up.sizes()) + " " + c10::toString(up.scalar_type()));
  }
  const float* table = silu_table().data();
  auto* gate_data = reinterpret_cast<uint16_t*>(gate.data_ptr<at::BFloat16>());
  const auto* up_data = reinterpret_cast<const uint16_t*>(up.data_ptr<at::BFloat16>());
  const bool vector = avx512_supported();
  const int64_t rows = gate.dim() > 1 && gate.size(-1) > 0 ? gate.numel() / gate.size(-1) : 1;
  parallel_rows(rows, 0, gate.numel(), kGrain, [&](int64_t begin, int64_t end) {
    if (vector) {
      silu_multiply_avx512(gate_data + begin, up_data + begin, end - begin, table);
    } else {
      silu_multiply_scalar(gate_data + begin, up_data + begin, end - begin, table);
    }
  });
}

}  // namespace slowfast
