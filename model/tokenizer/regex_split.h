// The Split pre-tokenizer of tokenizer.json: a regular expression (Oniguruma syntax, as the
// Hugging Face tokenizers library runs it) compiled with PCRE2 in UTF + UCP mode, with JIT.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace slowfast::tokenization {

// Which parts of the text a split keeps, after tokenizers' SplitDelimiterBehavior.
enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext };

struct ByteRange {
  size_t begin;
  size_t end;
};

// Rewrites an Oniguruma pattern for PCRE2. \s and \S outside character classes (and \s inside
// them) become Unicode White_Space sets, which is what Oniguruma matches; PCRE2's own \s adds
// U+180E. Exposed for tests.
std::string oniguruma_to_pcre2(std::string_view pattern);

class RegexSplitter {
 public:
  // `pattern` is a regular expression, or a literal string when `is_literal`. `where` names the
  // setting in error messages (e.g. "tokenizer.json: pre_tokenizer").
  RegexSplitter(const std::string& pattern, bool is_literal, SplitBehavior behavior,
                const std::string& where);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Appends the pieces of `text` (valid UTF-8) as byte ranges relative to `text`. Thread-safe.
  void split(std::string_view text, std::vector<ByteRange>& pieces) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  SplitBehavior behavior_;
};

}  // namespace slowfast::tokenization
