// The text tokenizer: byte-level BPE loaded from a Hugging Face tokenizer.json (or vocab.json +
// merges.txt), with its normalizer, pre-tokenizer, added tokens and tokenizer_config.json.
// Ids equal the Hugging Face tokenizers library's for every string.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slowfast {

// A token added on top of the BPE vocabulary (tokenizer.json "added_tokens"). Added tokens are
// found in the text before normalization and BPE, longest match first.
struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;      // skipped by decode(..., skip_special = true)
  bool lstrip = false;       // the match swallows white space on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = false;   // matched in the normalized text instead of the raw text
  bool single_word = false;  // only matched when not inside a word
};

class Tokenizer {
 public:
  // `path` is a directory (tokenizer.json, else vocab.json + merges.txt; tokenizer_config.json
  // beside them when present) or a tokenizer.json / vocab.json file. Throws slowfast::Error
  // naming the file and the problem.
  static std::shared_ptr<const Tokenizer> load(const std::string& path);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text (UTF-8; ill-formed bytes are read as U+FFFD) -> ids. Added tokens in the text are
  // recognised. `add_special_tokens` applies the post-processor's template (BOS/EOS of the
  // tokenizer; none for Qwen2). Thread-safe.
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // Ids -> text; bytes that do not form UTF-8 become U+FFFD. Throws slowfast::Error for an id
  // outside [0, size()).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;

  // One past the largest id, added tokens included (151669 for Qwen3's tokenizer). An id below it
  // that no token has (a hole in the vocabulary) is refused by decode.
  int64_t size() const;
  // Id of an added token's content or a vocabulary token (byte-level spelling, e.g. "Ġthe").
  std::optional<int64_t> find_id(std::string_view token) const;
  // As find_id, but throws slowfast::Error naming the token when it is unknown.
  int64_t id_of(std::string_view token) const;
  bool is_special(int64_t id) const;
  // The raw bytes an id decodes to (possibly part of a UTF-8 sequence).
  const std::string& token_bytes(int64_t id) const;
  const std::vector<AddedToken>& added_tokens() const;
  // From tokenizer_config.json, when it names them.
  std::optional<int64_t> bos_token_id() const;
  std::optional<int64_t> eos_token_id() const;
  std::optional<int64_t> pad_token_id() const;
  // The file the vocabulary came from (tokenizer.json or vocab.json).
  const std::string& source() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Decodes ids one at a time for streaming output. Each push returns the text completed so far
// and never a broken UTF-8 sequence: bytes of an unfinished character are held until it
// completes. Concatenating every push and finish() gives decode() of all ids (but for
// transformers' clean_up_tokenization_spaces, which a tokenizer_config.json may turn on; Qwen's
// turns it off).
class StreamDecoder {
 public:
  explicit StreamDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special = false);
  std::string push(int64_t id);
  // Returns the held bytes, as U+FFFD when they never formed a character, and resets.
  std::string finish();

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace slowfast
