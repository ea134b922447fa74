// The stages of tokenizer.json around the BPE model: normalizer, pre-tokenizer and
// post-processor, each read from its JSON object. Unsupported types are refused by name.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/regex_split.h"
#include "tokenizer/unicode.h"

namespace slowfast::tokenization {

// "normalizer": null, NFC / NFD / NFKC / NFKD, or a Sequence of those.
class Normalizer {
 public:
  Normalizer() = default;
  explicit Normalizer(std::vector<unicode::NormalizationForm> forms) : forms_(std::move(forms)) {}
  static Normalizer from_json(const nlohmann::json& config, const std::string& where);

  bool empty() const { return forms_.empty(); }
  std::string apply(std::string_view text) const;

 private:
  std::vector<unicode::NormalizationForm> forms_;
};

// "pre_tokenizer": Split steps followed by one ByteLevel step (alone, or as a Sequence). The
// ByteLevel step maps bytes to the byte-level alphabet; the BPE model works on raw bytes, so here
// it only adds the optional prefix space and the optional GPT-2 split.
class PreTokenizer {
 public:
  static PreTokenizer from_json(const nlohmann::json& config, const std::string& where);
  // The pipeline of a vocab.json + merges.txt directory, by tokenizer class.
  static PreTokenizer qwen2(const std::string& where);
  static PreTokenizer gpt2(bool add_prefix_space, const std::string& where);

  // Splits normalized text (valid UTF-8) into the pieces the BPE model encodes one by one.
  // Pieces that need bytes not in `text` (a prefix space) point into `storage`.
  void split(std::string_view text, std::vector<std::string_view>& pieces,
             std::deque<std::string>& storage) const;

 private:
  std::vector<RegexSplitter> splits_;
  bool add_prefix_space_ = false;
  std::vector<RegexSplitter> byte_level_split_;  // the GPT-2 pattern when use_regex; else empty
};

// "post_processor": null, ByteLevel (offsets only), TemplateProcessing, or a Sequence of those.
// Adds the template's special tokens to a single sequence when asked.
class PostProcessor {
 public:
  static PostProcessor from_json(const nlohmann::json& config, const std::string& where);
  void apply(std::vector<int64_t>& ids) const;

 private:
  std::vector<int64_t> prefix_;
  std::vector<int64_t> suffix_;
};

}  // namespace slowfast::tokenization
