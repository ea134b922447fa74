// The demo model's own tokenizer: byte-level BPE in tokenizer.json format, trained on the demo's
// prompt and answer templates (a few hundred tokens instead of Qwen's 151,646), with Qwen2's
// pre-tokenizer, normalizer and chat special tokens, so the engine loads it unchanged.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace slowfast::demo {

// Learns merges on `texts` (special tokens are never split) until no adjacent pair occurs twice
// or `max_merges` is reached; returns the tokenizer.json document.
nlohmann::json train_tokenizer(const std::vector<std::string>& texts, int max_merges);

// tokenizer_config.json for that tokenizer (no BOS, <|im_end|> ends a turn).
nlohmann::json tokenizer_config(const nlohmann::json& tokenizer);

// The chat special tokens, in id order after the BPE vocabulary.
extern const std::vector<std::string> kSpecialTokens;

}  // namespace slowfast::demo
