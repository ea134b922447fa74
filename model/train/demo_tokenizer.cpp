#include "train/demo_tokenizer.h"

#include <algorithm>
#include <deque>
#include <map>
#include <string_view>

#include "tokenizer/tokenizer_pipeline.h"
#include "tokenizer/unicode.h"

namespace slowfast::demo {

const std::vector<std::string> kSpecialTokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

namespace {

// Qwen2's pre-tokenizer (the Split regex of its tokenizer.json, then byte-level mapping).
nlohmann::json qwen2_pre_tokenizer() {
  const nlohmann::json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", false},
                                     {"use_regex", false}};
  return {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern",
          {{"Regex",
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        byte_level}}};
}

// Text without the special tokens, as the pieces BPE sees.
std::vector<std::string> plain_segments(const std::string& text) {
  std::vector<std::string> segments{text};
  for (const auto& special : kSpecialTokens) {
    std::vector<std::string> next;
    for (const auto& segment : segments) {
      size_t start = 0, found;
      while ((found = segment.find(special, start)) != std::string::npos) {
        next.push_back(segment.substr(start, found - start));
        start = found + special.size();
      }
      next.push_back(segment.substr(start));
    }
    segments = std::move(next);
  }
  return segments;
}

using Word = std::vector<std::string>;  // symbols in the byte-level alphabet

}  // namespace

nlohmann::json train_tokenizer(const std::vector<std::string>& texts, int max_merges) {
  const nlohmann::json pre_tokenizer_json = qwen2_pre_tokenizer();
  const auto pre_tokenizer =
      tokenization::PreTokenizer::from_json(pre_tokenizer_json, "demo tokenizer");

  // Word frequencies, each word as its byte symbols.
  std::map<Word, int64_t> words;
  for (const auto& text : texts) {
    for (const auto& segment : plain_segments(text)) {
      std::vector<std::string_view> pieces;
      std::deque<std::string> storage;
      pre_tokenizer.split(segment, pieces, storage);
      for (auto piece : pieces) {
        Word word;
        for (unsigned char byte : piece) {
          word.push_back(unicode::bytes_to_byte_level(std::string(1, static_cast<char>(byte))));
        }
        ++words[word];
      }
    }
  }

  nlohmann::json vocab = nlohmann::json::object();
  int64_t next_id = 0;
  for (int byte = 0; byte < 256; ++byte) {
    vocab[unicode::bytes_to_byte_level(std::string(1, static_cast<char>(byte)))] = next_id++;
  }
  nlohmann::json merges = nlohmann::json::array();
  for (int merge = 0; merge < max_merges; ++merge) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [word, count] : words) {
      for (size_t i = 0; i + 1 < word.size(); ++i) pairs[{word[i], word[i + 1]}] += count;
    }
    // The most frequent pair; std::map order breaks ties, so training is deterministic.
    auto best = pairs.end();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      if (best == pairs.end() || it->second > best->second) best = it;
    }
    if (best == pairs.end() || best->second < 2) break;
    const auto [left, right] = best->first;
    const std::string joined = left + right;
    merges.push_back({left, right});
    if (!vocab.contains(joined)) vocab[joined] = next_id++;
    std::map<Word, int64_t> merged;
    for (const auto& [word, count] : words) {
      Word out;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
          out.push_back(joined);
          ++i;
        } else {
          out.push_back(word[i]);
        }
      }
      merged[out] += count;
    }
    words = std::move(merged);
  }

  nlohmann::json added = nlohmann::json::array();
  for (const auto& special : kSpecialTokens) {
    added.push_back({{"id", next_id++},
                     {"content", special},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  const nlohmann::json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", false},
                                     {"use_regex", false}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer", pre_tokenizer_json},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

nlohmann::json tokenizer_config(const nlohmann::json& tokenizer) {
  nlohmann::json decoder = nlohmann::json::object();
  for (const auto& token : tokenizer.at("added_tokens")) {
    decoder[std::to_string(token.at("id").get<int64_t>())] = {{"content", token.at("content")},
                                                              {"lstrip", false},
                                                              {"normalized", false},
                                                              {"rstrip", false},
                                                              {"single_word", false},
                                                              {"special", true}};
  }
  return {{"add_bos_token", false},
          {"add_prefix_space", false},
          {"added_tokens_decoder", decoder},
          {"bos_token", nullptr},
          {"eos_token", "<|im_end|>"},
          {"pad_token", "<|endoftext|>"},
          {"errors", "replace"},
          {"model_max_length", 32768},
          {"split_special_tokens", false},
          {"tokenizer_class", "Qwen2Tokenizer"},
          {"unk_token", nullptr}};
}

}  // namespace slowfast::demo
