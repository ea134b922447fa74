// Finds added tokens in text before normalization and BPE, as the Hugging Face tokenizers
// library's AddedVocabulary does: leftmost-longest matches, single_word boundaries and the
// white space that lstrip / rstrip swallow.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace slowfast::tokenization {

// A piece of the text: plain text (token < 0) or the added token `token` (an index into the
// list the matcher was built from), white space swallowed by lstrip / rstrip included.
struct TextSegment {
  size_t begin;
  size_t end;
  int token;
};

class AddedTokenMatcher {
 public:
  // Registers token number `token`, found as `pattern` (its content, or its normalized content
  // for a normalized token) with the options of `options`. An empty pattern is ignored.
  void add(const std::string& pattern, int token, const AddedToken& options);

  bool empty() const { return entries_ == 0; }
  // Appends segments covering `text` (valid UTF-8) in order.
  void split(std::string_view text, std::vector<TextSegment>& segments) const;

 private:
  struct Entry {
    std::string pattern;
    int token;
    bool lstrip, rstrip, single_word;
  };
  // Candidates by first byte, longest first, so the first hit is the longest match.
  std::array<std::vector<Entry>, 256> by_first_byte_;
  size_t entries_ = 0;
};

}  // namespace slowfast::tokenization
