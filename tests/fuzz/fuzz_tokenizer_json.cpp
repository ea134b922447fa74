// libFuzzer harness: loading a tokenizer.json. A tokenizer that loads must encode and decode a
// fixed text with every id inside its vocabulary.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "slowfast.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto tokenizer =
        slowfast::Tokenizer::load(slowfast::fuzz::write_file("tokenizer.json", data, size));
    const auto ids = tokenizer->encode("Hello <|im_start|>user\n a ball, 12 3\xe4\xb8\xad\n");
    for (const int64_t id : ids) {
      slowfast::fuzz::require(id >= 0 && id < tokenizer->size(),
                              "encoded ids are in the vocabulary");
    }
    (void)tokenizer->decode(ids);
  } catch (const slowfast::Error&) {
    // Refused with a message: the expected outcome. Any other exception is a finding.
  }
  return 0;
}
