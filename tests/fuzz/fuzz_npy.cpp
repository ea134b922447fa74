// libFuzzer harness: the .npy reader. An accepted array's bytes are read end to end (a shape
// beyond the file must have been refused, and must not allocate: libFuzzer's -malloc_limit_mb).
#include <cstdint>

#include "fuzz_support.h"
#include "slowfast.h"
#include "tools/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const torch::Tensor array =
        slowfast::read_npy(slowfast::fuzz::write_file("input.npy", data, size));
    slowfast::fuzz::require(array.is_contiguous(), "arrays are contiguous");
    if (array.numel() > 0) {
      const auto* bytes = static_cast<const volatile uint8_t*>(array.data_ptr());
      (void)bytes[0];
      (void)bytes[static_cast<size_t>(array.numel()) * array.element_size() - 1];
    }
  } catch (const slowfast::Error&) {
    // Refused with a message: the expected outcome. Any other exception is a finding.
  }
  return 0;
}
