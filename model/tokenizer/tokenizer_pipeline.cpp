#include "tokenizer/tokenizer_pipeline.h"

#include <nlohmann/json.hpp>

#include "slowfast.h"

namespace slowfast::tokenization {

namespace {

using nlohmann::json;

// GPT-2's split, applied by a ByteLevel pre-tokenizer with use_regex (tokenizers' ByteLevel).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Qwen2Tokenizer's split (transformers' PRETOKENIZE_REGEX), for a vocab.json + merges.txt
// directory; tokenizer.json carries the same pattern in its pre_tokenizer.
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string type_of(const json& config, const std::string& where) {
  if (!config.is_object()) throw Error(where + ": expected an object");
  const auto it = config.find("type");
  if (it == config.end() || !it->is_string()) throw Error(where + ": has no \"type\"");
  return it->get<std::string>();
}

bool flag(const json& config, const char* key, bool fallback, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw Error(where + ": \"" + key + "\" must be true or false");
  return it->get<bool>();
}

const json& list_of(const json& config, const char* key, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_array())
    throw Error(where + ": \"" + key + "\" must be a list");
  return *it;
}

void add_normalizer(const json& config, const std::string& where,
                    std::vector<unicode::NormalizationForm>& forms) {
  const std::string type = type_of(config, where);
  if (type == "NFC") {
    forms.push_back(unicode::NormalizationForm::NFC);
  } else if (type == "NFD") {
    forms.push_back(unicode::NormalizationForm::NFD);
  } else if (type == "NFKC") {
    forms.push_back(unicode::NormalizationForm::NFKC);
  } else if (type == "NFKD") {
    forms.push_back(unicode::NormalizationForm::NFKD);
  } else if (type == "Sequence") {
    for (const json& step : list_of(config, "normalizers", where))
      add_normalizer(step, where, forms);
  } else {
    throw Error(where + ": normalizer type '" + type +
                "' is not supported (supported: NFC, NFD, NFKC, NFKD, Sequence)");
  }
}

SplitBehavior split_behavior(const json& config, const std::string& where) {
  const auto it = config.find("behavior");
  if (it == config.end() || !it->is_string()) throw Error(where + ": Split has no \"behavior\"");
  const std::string name = it->get<std::string>();
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  throw Error(where + ": Split behavior '" + name +
              "' is not supported (supported: Isolated, Removed, MergedWithPrevious, "
              "MergedWithNext)");
}

void flatten_pre_tokenizers(const json& config, const std::string& where,
                            std::vector<json>& steps) {
  if (type_of(config, where) == "Sequence") {
    for (const json& step : list_of(config, "pretokenizers", where)) {
      flatten_pre_tokenizers(step, where, steps);
    }
  } else {
    steps.push_back(config);
  }
}

void add_post_processor(const json& config, const std::string& where, std::vector<int64_t>& prefix,
                        std::vector<int64_t>& suffix) {
  const std::string type = type_of(config, where);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "Sequence") {
    for (const json& step : list_of(config, "processors", where)) {
      add_post_processor(step, where, prefix, suffix);
    }
    return;
  }
  if (type != "TemplateProcessing") {
    throw Error(where + ": post_processor type '" + type +
                "' is not supported (supported: ByteLevel, TemplateProcessing, Sequence)");
  }
  const auto special = config.find("special_tokens");
  bool after_sequence = false;
  for (const json& item : list_of(config, "single", where)) {
    if (item.contains("Sequence")) {
      after_sequence = true;
      continue;
    }
    const auto token = item.find("SpecialToken");
    if (token == item.end() || !token->contains("id")) {
      throw Error(where + ": TemplateProcessing item is neither Sequence nor SpecialToken");
    }
    const std::string name = (*token)["id"].get<std::string>();
    if (special == config.end() || !special->contains(name) || !(*special)[name].contains("ids")) {
      throw Error(where + ": TemplateProcessing token '" + name + "' has no ids in special_tokens");
    }
    for (const json& id : (*special)[name]["ids"]) {
      (after_sequence ? suffix : prefix).push_back(id.get<int64_t>());
    }
  }
}

}  // namespace

Normalizer Normalizer::from_json(const json& config, const std::string& where) {
  std::vector<unicode::NormalizationForm> forms;
  if (!config.is_null()) add_normalizer(config, where + ": normalizer", forms);
  return Normalizer(std::move(forms));
}

std::string Normalizer::apply(std::string_view text) const {
  std::string out(text);
  for (const auto form : forms_) out = unicode::normalize(out, form);
  return out;
}

PreTokenizer PreTokenizer::from_json(const json& config, const std::string& where) {
  const std::string context = where + ": pre_tokenizer";
  if (config.is_null()) {
    throw Error(context +
                " is missing: only byte-level BPE (a ByteLevel pre-tokenizer) is supported");
  }
  std::vector<json> steps;
  flatten_pre_tokenizers(config, context, steps);
  PreTokenizer result;
  bool byte_level = false;
  for (const json& step : steps) {
    const std::string type = type_of(step, context);
    if (byte_level) {
      throw Error(context + ": a " + type + " step after ByteLevel is not supported");
    }
    if (type == "Split") {
      if (flag(step, "invert", false, context))
        throw Error(context + ": Split with invert is not supported");
      const auto pattern = step.find("pattern");
      if (pattern == step.end() || !pattern->is_object())
        throw Error(context + ": Split has no pattern");
      if (pattern->contains("Regex") && (*pattern)["Regex"].is_string()) {
        result.splits_.emplace_back((*pattern)["Regex"].get<std::string>(), false,
                                    split_behavior(step, context), context);
      } else if (pattern->contains("String") && (*pattern)["String"].is_string()) {
        result.splits_.emplace_back((*pattern)["String"].get<std::string>(), true,
                                    split_behavior(step, context), context);
      } else {
        throw Error(context + ": Split pattern is neither {\"Regex\": ...} nor {\"String\": ...}");
      }
    } else if (type == "ByteLevel") {
      byte_level = true;
      // tokenizers' defaults when the keys are absent: add_prefix_space and use_regex on.
      result.add_prefix_space_ = flag(step, "add_prefix_space", true, context);
      if (flag(step, "use_regex", true, context)) {
        result.byte_level_split_.emplace_back(kGpt2Pattern, false, SplitBehavior::Isolated,
                                              context);
      }
    } else {
      throw Error(context + ": type '" + type +
                  "' is not supported (supported: Split, ByteLevel, Sequence)");
    }
  }
  if (!byte_level) {
    throw Error(context + " has no ByteLevel step: only byte-level BPE tokenizers are supported");
  }
  return result;
}

PreTokenizer PreTokenizer::qwen2(const std::string& where) {
  PreTokenizer result;
  result.splits_.emplace_back(kQwen2Pattern, false, SplitBehavior::Isolated, where);
  return result;
}

PreTokenizer PreTokenizer::gpt2(bool add_prefix_space, const std::string& where) {
  PreTokenizer result;
  result.add_prefix_space_ = add_prefix_space;
  result.byte_level_split_.emplace_back(kGpt2Pattern, false, SplitBehavior::Isolated, where);
  return result;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces,
                         std::deque<std::string>& storage) const {
  if (text.empty()) return;
  std::vector<std::string_view> current{text}, next;
  std::vector<ByteRange> ranges;
  auto refine = [&](const RegexSplitter& splitter) {
    next.clear();
    for (const std::string_view piece : current) {
      ranges.clear();
      splitter.split(piece, ranges);
      for (const ByteRange& r : ranges) next.push_back(piece.substr(r.begin, r.end - r.begin));
    }
    current.swap(next);
  };
  for (const RegexSplitter& splitter : splits_) refine(splitter);
  if (add_prefix_space_) {
    for (std::string_view& piece : current) {
      if (piece.front() != ' ') {
        storage.push_back(" " + std::string(piece));
        piece = storage.back();
      }
    }
  }
  for (const RegexSplitter& splitter : byte_level_split_) refine(splitter);
  pieces.insert(pieces.end(), current.begin(), current.end());
}

PostProcessor PostProcessor::from_json(const json& config, const std::string& where) {
  PostProcessor result;
  if (!config.is_null()) {
    try {
      add_post_processor(config, where + ": post_processor", result.prefix_, result.suffix_);
    } catch (const json::exception& e) {
      throw Error(where + ": post_processor: " + e.what());
    }
  }
  return result;
}

void PostProcessor::apply(std::vector<int64_t>& ids) const {
  ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
  ids.insert(ids.end(), suffix_.begin(), suffix_.end());
}

}  // namespace slowfast::tokenization
