// libFuzzer harness: config.json parsing and validation. The first byte picks the target: even,
// the input is a config.json for parse_config; odd, it is a generation_config.json merged into
// the demo model's valid config.
#include <cstdint>
#include <string>

#include "checkpoint/config.h"
#include "fuzz_support.h"
#include "slowfast.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool generation_mode = data[0] % 2 == 1;
  try {
    if (!generation_mode) {
      const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
      const slowfast::Config config = slowfast::parse_config(text, "fuzz config.json");
      slowfast::fuzz::require(
          config.vocab_size > 0 && config.hidden_size > 0 && config.num_hidden_layers > 0,
          "an accepted config has positive sizes");
    } else {
      static const slowfast::Config demo =
          slowfast::load_config(std::string(SLOWFAST_FUZZ_DEMO_MODEL) + "/config.json");
      slowfast::Config merged = demo;
      slowfast::merge_generation_config(
          merged, slowfast::fuzz::write_file("generation_config.json", data + 1, size - 1));
      for (const int64_t id : merged.eos_token_ids) {
        slowfast::fuzz::require(id >= 0 && id < merged.vocab_size,
                                "merged eos ids are in the vocabulary");
      }
    }
  } catch (const slowfast::Error&) {
    // Refused with a message: the expected outcome. Any other exception is a finding.
  }
  return 0;
}
