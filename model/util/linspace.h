// The reference's uniform pick of frames: numpy.linspace(0, n - 1, count).astype(int).
#pragma once

#include <cstdint>
#include <vector>

namespace slowfast {

// `count` indices into n frames, oldest first; they repeat when n < count. Empty when n or count
// is 0.
std::vector<uint64_t> linspace_indices(uint64_t n, uint64_t count);

}  // namespace slowfast
