#include "util/linspace.h"

namespace slowfast {

std::vector<uint64_t> linspace_indices(uint64_t n, uint64_t count) {
  std::vector<uint64_t> out;
  if (n == 0 || count == 0) return out;
  out.reserve(count);
  // numpy computes start + i * step with step = (stop - start) / (count - 1) and sets the last
  // sample to stop exactly; astype(int) truncates.
  const double step = count > 1 ? static_cast<double>(n - 1) / static_cast<double>(count - 1) : 0;
  for (uint64_t i = 0; i < count; ++i) {
    const double value =
        i + 1 == count ? static_cast<double>(n - 1) : static_cast<double>(i) * step;
    out.push_back(static_cast<uint64_t>(value));
  }
  return out;
}

}  // namespace slowfast
