// libFuzzer harness: the tokenizer's encode on arbitrary bytes (the real Qwen tokenizer.json where
// tests/data/tokenizer has it, else the demo model's), then decode of the ids. encode never
// throws for any bytes; every id is inside the vocabulary; for ASCII input without added-token
// text, decode gives the input back (byte-level BPE is lossless there, NFC changes nothing).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "fuzz_tokenizer.h"
#include "slowfast.h"
#include "tokenizer/tokenizer.h"

namespace {
std::shared_ptr<const slowfast::Tokenizer> tokenizer;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer = slowfast::fuzz::load_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto ids = tokenizer->encode(text);
  bool ascii = true;
  for (const unsigned char c : text) ascii = ascii && c < 0x80;
  for (const int64_t id : ids) {
    slowfast::fuzz::require(id >= 0 && id < tokenizer->size(), "encoded ids are in the vocabulary");
    ascii = ascii && !tokenizer->is_special(id);
  }
  const bool has_added_text = text.find("<|") != std::string_view::npos;
  const std::string decoded = tokenizer->decode(ids);
  if (ascii && !has_added_text) {
    slowfast::fuzz::require(decoded == text, "ASCII text decodes back to itself");
  }
  return 0;
}
