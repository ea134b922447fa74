// Seeded random weights for tests and benchmarks (no checkpoint needed), written in place in each
// parameter's own dtype so that a bfloat16 model never exists in float32.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace slowfast {

// Matrices ~ N(0, 1/fan_in) (activations stay O(1) through the layers), other parameters
// ~ N(0, 0.1^2), norm weights ~ 1 + N(0, 0.1^2), warm-up gates ~ N(1, 0.1^2) so that the
// cross-attention matters. Same seed, same values.
void init_random_parameters(torch::nn::Module& module, uint64_t seed);

}  // namespace slowfast
