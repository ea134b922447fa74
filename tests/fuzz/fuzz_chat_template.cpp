// libFuzzer harness: the qwen_1_5 chat template and the "<image>" split. The first byte picks
// mm_use_im_start_end. Every "<image>" of the prompt becomes exactly one image placeholder and
// every other id is inside the vocabulary.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "fuzz_tokenizer.h"
#include "slowfast.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace {
std::shared_ptr<const slowfast::Tokenizer> tokenizer;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer = slowfast::fuzz::load_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool im_start_end = data[0] % 2 == 1;
  const std::string_view question(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string prompt = slowfast::qwen_1_5_prompt(question, im_start_end);
  size_t images = 0;
  for (size_t at = prompt.find(slowfast::kImageToken); at != std::string::npos;
       at = prompt.find(slowfast::kImageToken, at + slowfast::kImageToken.size())) {
    ++images;
  }
  size_t placeholders = 0;
  for (const int64_t id : slowfast::tokenize_with_image(*tokenizer, prompt)) {
    if (id == slowfast::kImageTokenIndex) {
      ++placeholders;
    } else {
      slowfast::fuzz::require(id >= 0 && id < tokenizer->size(),
                              "prompt ids are in the vocabulary");
    }
  }
  slowfast::fuzz::require(placeholders == images, "one placeholder per <image>");
  return 0;
}
