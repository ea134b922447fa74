// The tokenizer the encode and chat-template harnesses run on: $SLOWFAST_FUZZ_TOKENIZER, else
// the real Qwen tokenizer.json where tests/data/tokenizer has it, else the demo model's
// (chosen at configure time, tests/fuzz/meson.build).
#pragma once

#include <cstdlib>
#include <memory>

#include "tokenizer/tokenizer.h"

namespace slowfast::fuzz {

inline std::shared_ptr<const Tokenizer> load_tokenizer() {
  const char* path = std::getenv("SLOWFAST_FUZZ_TOKENIZER");
  return Tokenizer::load(path != nullptr ? path : SLOWFAST_FUZZ_TOKENIZER);
}

}  // namespace slowfast::fuzz
