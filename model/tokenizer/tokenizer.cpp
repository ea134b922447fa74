#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "slowfast.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer_pipeline.h"
#include "tokenizer/unicode.h"
#include "util/json_file.h"

namespace slowfast {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using tokenization::AddedTokenMatcher;
using tokenization::BpeModel;
using tokenization::Normalizer;
using tokenization::PostProcessor;
using tokenization::PreTokenizer;
using tokenization::TextSegment;

// The files a tokenizer is made of. Either tokenizer_json or vocab_json + merges_txt is set.
struct TokenizerFiles {
  fs::path tokenizer_json;
  fs::path vocab_json;
  fs::path merges_txt;
  fs::path config_json;  // tokenizer_config.json, when present
};

TokenizerFiles locate_files(const std::string& path) {
  TokenizerFiles files;
  std::error_code error;
  const fs::path given(path);
  if (!fs::exists(given, error)) throw Error(path + ": no such file or directory");
  fs::path dir;
  if (fs::is_directory(given, error)) {
    dir = given;
    if (fs::exists(dir / "tokenizer.json", error)) {
      files.tokenizer_json = dir / "tokenizer.json";
    } else if (fs::exists(dir / "vocab.json", error) && fs::exists(dir / "merges.txt", error)) {
      files.vocab_json = dir / "vocab.json";
      files.merges_txt = dir / "merges.txt";
    } else {
      throw Error(path + ": no tokenizer.json, and no vocab.json with merges.txt");
    }
  } else {
    dir = given.parent_path();
    if (given.filename() == "vocab.json") {
      files.vocab_json = given;
      files.merges_txt = dir / "merges.txt";
      if (!fs::exists(files.merges_txt, error)) {
        throw Error(path + ": no merges.txt beside vocab.json");
      }
    } else {
      files.tokenizer_json = given;
    }
  }
  if (fs::exists(dir / "tokenizer_config.json", error)) {
    files.config_json = dir / "tokenizer_config.json";
  }
  return files;
}

bool bool_field(const json& object, const char* key, bool fallback, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw Error(where + ": \"" + key + "\" must be true or false");
  return it->get<bool>();
}

AddedToken parse_added_token(const json& entry, int64_t id, const std::string& where) {
  if (!entry.is_object() || !entry.contains("content") || !entry["content"].is_string()) {
    throw Error(where + ": added token " + std::to_string(id) + " has no \"content\" string");
  }
  AddedToken token;
  token.id = id;
  token.content = entry["content"].get<std::string>();
  token.special = bool_field(entry, "special", false, where);
  token.lstrip = bool_field(entry, "lstrip", false, where);
  token.rstrip = bool_field(entry, "rstrip", false, where);
  // tokenizers' default: only non-special tokens are matched in normalized text.
  token.normalized = bool_field(entry, "normalized", !token.special, where);
  token.single_word = bool_field(entry, "single_word", false, where);
  return token;
}

int64_t parse_id(const json& value, const std::string& what, const std::string& where) {
  if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > INT32_MAX) {
    throw Error(where + ": " + what + " has no valid id");
  }
  return value.get<int64_t>();
}

// A token name in tokenizer_config.json: a string, an AddedToken object, or null.
std::optional<std::string> config_token(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

// transformers' clean_up_tokenization: removes the space before punctuation and contractions.
std::string clean_up_tokenization(std::string text) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) text = replace_all(std::move(text), from, to);
  return text;
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  std::unique_ptr<BpeModel> model;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  PostProcessor post_processor;
  std::vector<AddedToken> added;
  AddedTokenMatcher raw_matcher;                       // tokens with normalized = false
  AddedTokenMatcher normalized_matcher;                // tokens with normalized = true
  std::unordered_map<std::string, int32_t> vocab_ids;  // byte-level spelling -> id
  std::unordered_map<std::string, int64_t> added_ids;  // content -> id
  std::vector<std::string> id_bytes;                   // what each id decodes to
  std::vector<uint8_t> id_known;
  std::vector<uint8_t> id_special;
  int64_t size = 0;
  std::optional<int64_t> bos, eos, pad;
  bool clean_up_spaces = false;

  void encode_plain(std::string_view text, std::vector<int64_t>& ids) const;
  void encode_normalized(std::string_view text, std::vector<int64_t>& ids) const;
  void finish(const json& config, const std::string& config_where);
};

namespace {

// tokenizer.json's two large members, model.vocab and model.merges (about 150,000 entries each
// for Qwen), go straight into these tables while the file is parsed: as a JSON tree they would be
// some 25 MB of short-lived nodes, and on VMs where each fresh page costs tens of microseconds
// that tree was most of a model's load time.
struct BpeTables {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

// A merge "left right" (tokenizers splits on the single space).
std::pair<std::string, std::string> split_merge(const std::string& line, size_t index,
                                                const std::string& where) {
  const size_t space = line.find(' ');
  if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
    throw Error(where + ": merge " + std::to_string(index) + " ('" + line +
                "') is not two tokens separated by one space");
  }
  return {line.substr(0, space), line.substr(space + 1)};
}

// Parses tokenizer.json, reading model.vocab and model.merges into `tables` and leaving them
// empty in the returned tree; the rest of the file is an ordinary tree.
json parse_tokenizer_json(const std::string& path, BpeTables& tables) {
  const std::string text = read_text_file(path, "tokenizer");
  // Sized ahead from the file (Qwen's: 7 MB for 150,000 tokens and as many merges), so the tables
  // are not rehashed and regrown while they fill.
  tables.vocab.reserve(text.size() / 64);
  tables.merges.reserve(text.size() / 64);
  // Depths as nlohmann counts them: the root's keys are at 1, "model"'s at 2, the entries of
  // model.vocab and model.merges at 3, the strings of a ["a", "b"] merge at 4.
  std::string root_key, model_key, vocab_key;
  std::vector<std::string> pair;
  size_t merge_index = 0;
  const auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    using Event = json::parse_event_t;
    if (event == Event::key && depth <= 2) {
      (depth == 1 ? root_key : model_key) = parsed.get<std::string>();
      return true;
    }
    if (root_key != "model" || depth < 3) return true;
    if (model_key == "vocab" && depth == 3) {
      if (event == Event::key) {
        vocab_key = parsed.get<std::string>();
      } else if (event == Event::value) {
        const int64_t id = parse_id(parsed, "vocab token '" + vocab_key + "'", path);
        // A repeated token keeps its last id, as a JSON object would.
        tables.vocab.insert_or_assign(std::move(vocab_key), static_cast<int32_t>(id));
      } else if (event == Event::object_start || event == Event::array_start) {
        throw Error(path + ": vocab token '" + vocab_key + "' has a non-integer id");
      }
      return false;
    }
    if (model_key != "merges") return true;
    if (depth == 3 && event == Event::value) {
      if (!parsed.is_string()) {
        throw Error(path + ": merge " + std::to_string(merge_index) +
                    " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      tables.merges.push_back(split_merge(parsed.get<std::string>(), merge_index++, path));
      return false;
    }
    if (depth == 3 && event == Event::array_start) {
      pair.clear();
      return true;  // kept until its end, so that its strings are seen
    }
    if (depth == 4 && event == Event::value && parsed.is_string() && pair.size() < 2) {
      pair.push_back(parsed.get<std::string>());
      return false;
    }
    if (depth == 3 && event == Event::array_end && pair.size() == 2 && parsed.empty()) {
      tables.merges.emplace_back(std::move(pair[0]), std::move(pair[1]));
      ++merge_index;
      return false;
    }
    throw Error(path + ": merge " + std::to_string(merge_index) +
                " is neither \"a b\" nor [\"a\", \"b\"]");
  };
  return parse_json(text, "tokenizer", path, callback);
}

// Checks the BPE model of tokenizer.json (its vocab and merges already in `tables`) and reads its
// options.
void read_bpe_model(const json& root, const std::string& where, const BpeTables& tables,
                    BpeModel::Options& options) {
  const auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) {
    throw Error(where + ": no \"model\" object");
  }
  const json& model = *model_it;
  const std::string type =
      model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "";
  if (type != "BPE" && !(type.empty() && model.contains("merges"))) {
    throw Error(where + ": model type '" + (type.empty() ? "(none)" : type) +
                "' is not supported: only byte-level BPE (\"type\": \"BPE\") is");
  }
  const auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    throw Error(where + ": the BPE model has no \"vocab\" object");
  }
  const auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) {
    throw Error(where + ": the BPE model has no \"merges\" list");
  }
  if (model.contains("dropout") && model["dropout"].is_number() &&
      model["dropout"].get<double>() > 0) {
    throw Error(where + ": BPE dropout is not supported (it makes encoding random)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
      throw Error(where + ": BPE \"" + key + "\" is not supported by byte-level BPE");
    }
  }
  if (bool_field(model, "byte_fallback", false, where)) {
    throw Error(where + ": BPE byte_fallback is not supported by byte-level BPE");
  }
  options.ignore_merges = bool_field(model, "ignore_merges", false, where);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto it = tables.vocab.find(model["unk_token"].get<std::string>());
    if (it == tables.vocab.end()) throw Error(where + ": unk_token is not in the vocabulary");
    options.unk_id = it->second;
  }
}

// merges.txt: one "left right" pair per line after an optional "#version" line.
std::vector<std::pair<std::string, std::string>> read_merges_txt(const fs::path& path) {
  std::vector<std::pair<std::string, std::string>> merges;
  std::istringstream lines(read_text_file(path.string(), "merges file"));
  std::string line;
  size_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      throw Error(path.string() + ": line " + std::to_string(number) +
                  " is not two tokens separated by one space");
    }
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return merges;
}

}  // namespace

void Tokenizer::Impl::finish(const json& config, const std::string& config_where) {
  // Ids: the vocabulary's, then the added tokens' (which may reuse a vocabulary id).
  // The tables below are indexed by id: ids far beyond the count of tokens would make them mostly
  // empty and, from a hostile file, gigabytes large. Real vocabularies are dense.
  const int64_t id_limit = 2 * static_cast<int64_t>(vocab_ids.size() + added.size()) + 1024;
  const auto check_id = [&](const std::string& token, int64_t id) {
    if (id < 0 || id >= id_limit) {
      throw Error(source + ": token '" + token.substr(0, 64) + "' has id " + std::to_string(id) +
                  ", outside 0.." + std::to_string(id_limit - 1) + " for the " +
                  std::to_string(vocab_ids.size() + added.size()) + " tokens defined");
    }
  };
  int64_t max_id = -1;
  for (const auto& [token, id] : vocab_ids) {
    check_id(token, id);
    max_id = std::max<int64_t>(max_id, id);
  }
  for (const AddedToken& token : added) {
    check_id(token.content, token.id);
    max_id = std::max(max_id, token.id);
  }
  id_bytes.assign(max_id + 1, std::string());
  id_known.assign(max_id + 1, 0);
  id_special.assign(max_id + 1, 0);
  // The ByteLevel decoder maps a token's characters back to bytes when all of them are in the
  // byte-level alphabet, and keeps the token's UTF-8 otherwise (tokenizers' rule).
  auto decoded_bytes = [](const std::string& token) {
    std::string bytes;
    return unicode::byte_level_to_bytes(token, bytes) ? bytes : token;
  };
  for (const auto& [token, id] : vocab_ids) {
    // Two vocabulary tokens on one id would make encode emit an id that decodes to the other.
    if (id_known[id]) {
      throw Error(source + ": vocabulary token '" + token.substr(0, 64) + "' has id " +
                  std::to_string(id) + ", which another vocabulary token already has");
    }
    id_bytes[id] = decoded_bytes(token);
    id_known[id] = 1;
  }
  for (size_t i = 0; i < added.size(); ++i) {
    const AddedToken& token = added[i];
    id_bytes[token.id] = decoded_bytes(token.content);
    id_known[token.id] = 1;
    id_special[token.id] = token.special;
    added_ids[token.content] = token.id;
    if (token.normalized) {
      normalized_matcher.add(normalizer.apply(token.content), static_cast<int>(i), token);
    } else {
      raw_matcher.add(token.content, static_cast<int>(i), token);
    }
  }
  // The id space, holes included: a count of tokens would put the largest ids of a vocabulary
  // with holes outside [0, size()), where generation masks them.
  size = max_id + 1;

  if (config.is_object()) {
    clean_up_spaces = bool_field(config, "clean_up_tokenization_spaces", false, config_where);
    auto resolve = [&](const char* key) -> std::optional<int64_t> {
      const auto name = config_token(config, key);
      if (!name) return std::nullopt;
      if (const auto it = added_ids.find(*name); it != added_ids.end()) return it->second;
      if (const auto it = vocab_ids.find(*name); it != vocab_ids.end()) return it->second;
      throw Error(config_where + ": " + key + " '" + *name + "' is not a token of the tokenizer");
    };
    bos = resolve("bos_token");
    eos = resolve("eos_token");
    pad = resolve("pad_token");
  }
}

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::string& path) {
  const TokenizerFiles files = locate_files(path);
  auto impl = std::make_unique<Impl>();
  json config;
  std::string config_where;
  if (!files.config_json.empty()) {
    config = read_json_file(files.config_json.string(), "tokenizer config");
    config_where = files.config_json.string();
    if (!config.is_object()) throw Error(config_where + ": expected a JSON object");
  }

  BpeTables tables;
  std::unordered_map<std::string, int32_t>& vocab = tables.vocab;
  std::vector<std::pair<std::string, std::string>>& merges = tables.merges;
  BpeModel::Options options;
  std::string where;
  try {
    if (!files.tokenizer_json.empty()) {
      where = files.tokenizer_json.string();
      const json root = parse_tokenizer_json(where, tables);
      if (!root.is_object()) throw Error(where + ": expected a JSON object");
      read_bpe_model(root, where, tables, options);
      impl->normalizer = Normalizer::from_json(root.value("normalizer", json()), where);
      impl->pre_tokenizer = PreTokenizer::from_json(root.value("pre_tokenizer", json()), where);
      impl->post_processor = PostProcessor::from_json(root.value("post_processor", json()), where);
      const json decoder = root.value("decoder", json());
      if (!decoder.is_object() || decoder.value("type", "") != "ByteLevel") {
        throw Error(where + ": decoder must be ByteLevel (only byte-level BPE is supported)");
      }
      if (root.contains("added_tokens")) {
        if (!root["added_tokens"].is_array())
          throw Error(where + ": \"added_tokens\" must be a list");
        for (const json& entry : root["added_tokens"]) {
          if (!entry.is_object() || !entry.contains("id")) {
            throw Error(where + ": an added token has no \"id\"");
          }
          const int64_t id = parse_id(entry["id"], "an added token", where);
          impl->added.push_back(parse_added_token(entry, id, where));
        }
      }
    } else {
      where = files.vocab_json.string();
      const json vocab_root = read_json_file(files.vocab_json.string(), "vocabulary");
      if (!vocab_root.is_object()) throw Error(where + ": expected an object of token -> id");
      for (const auto& [token, id] : vocab_root.items()) {
        vocab.emplace(token, static_cast<int32_t>(parse_id(id, "token '" + token + "'", where)));
      }
      merges = read_merges_txt(files.merges_txt);
      // The slow tokenizer classes hard-code their pipeline; tokenizer_config.json names it.
      const std::string tokenizer_class =
          config.is_object() ? config.value("tokenizer_class", std::string()) : std::string();
      if (tokenizer_class == "Qwen2Tokenizer" || tokenizer_class == "Qwen2TokenizerFast") {
        impl->normalizer = Normalizer({unicode::NormalizationForm::NFC});
        impl->pre_tokenizer = PreTokenizer::qwen2(where);
      } else if (tokenizer_class == "GPT2Tokenizer" || tokenizer_class == "GPT2TokenizerFast") {
        impl->pre_tokenizer =
            PreTokenizer::gpt2(bool_field(config, "add_prefix_space", false, config_where), where);
      } else {
        throw Error(where +
                    ": vocab.json + merges.txt needs tokenizer_config.json to name "
                    "tokenizer_class Qwen2Tokenizer or GPT2Tokenizer (found '" +
                    tokenizer_class + "')");
      }
    }
    // transformers adds the added tokens of tokenizer_config.json that the tokenizer lacks.
    if (config.is_object() && config.contains("added_tokens_decoder")) {
      const json& decoder = config["added_tokens_decoder"];
      if (!decoder.is_object())
        throw Error(config_where + ": \"added_tokens_decoder\" must be an object");
      for (const auto& [key, entry] : decoder.items()) {
        int64_t id = -1;
        try {
          id = std::stoll(key);
        } catch (const std::exception&) {
          throw Error(config_where + ": added_tokens_decoder key '" + key + "' is not an id");
        }
        const bool present = std::any_of(impl->added.begin(), impl->added.end(),
                                         [&](const AddedToken& t) { return t.id == id; });
        if (!present) impl->added.push_back(parse_added_token(entry, id, config_where));
      }
    }
    impl->model = std::make_unique<BpeModel>(vocab, merges, options, where);
  } catch (const json::exception& e) {
    throw Error(where + ": unexpected JSON content: " + e.what());
  }

  impl->source = where;
  impl->vocab_ids = std::move(vocab);
  impl->finish(config, config_where);
  return std::shared_ptr<const Tokenizer>(new Tokenizer(std::move(impl)));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

void Tokenizer::Impl::encode_normalized(std::string_view text, std::vector<int64_t>& ids) const {
  std::vector<std::string_view> pieces;
  std::deque<std::string> storage;
  pre_tokenizer.split(text, pieces, storage);
  for (const std::string_view piece : pieces) model->encode(piece, ids);
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int64_t>& ids) const {
  const std::string normalized = normalizer.empty() ? std::string() : normalizer.apply(text);
  const std::string_view view = normalizer.empty() ? text : std::string_view(normalized);
  if (normalized_matcher.empty()) {
    encode_normalized(view, ids);
    return;
  }
  std::vector<TextSegment> segments;
  normalized_matcher.split(view, segments);
  for (const TextSegment& s : segments) {
    if (s.token >= 0) {
      ids.push_back(added[s.token].id);
    } else {
      encode_normalized(view.substr(s.begin, s.end - s.begin), ids);
    }
  }
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!unicode::is_valid_utf8(text)) {
    repaired = unicode::to_valid_utf8(text);
    text = repaired;
  }
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (impl_->raw_matcher.empty()) {
    impl_->encode_plain(text, ids);
  } else {
    std::vector<TextSegment> segments;
    impl_->raw_matcher.split(text, segments);
    for (const TextSegment& s : segments) {
      if (s.token >= 0) {
        ids.push_back(impl_->added[s.token].id);
      } else {
        impl_->encode_plain(text.substr(s.begin, s.end - s.begin), ids);
      }
    }
  }
  if (add_special_tokens) impl_->post_processor.apply(ids);
  return ids;
}

const std::string& Tokenizer::token_bytes(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(impl_->id_known.size()) || !impl_->id_known[id]) {
    throw Error("tokenizer " + impl_->source + ": id " + std::to_string(id) +
                " is not a token (the tokenizer has " + std::to_string(impl_->size) + " tokens)");
  }
  return impl_->id_bytes[id];
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string bytes;
  for (const int64_t id : ids) {
    const std::string& piece = token_bytes(id);
    if (skip_special && impl_->id_special[id]) continue;
    bytes += piece;
  }
  std::string text = unicode::to_valid_utf8(bytes);
  return impl_->clean_up_spaces ? clean_up_tokenization(std::move(text)) : text;
}

int64_t Tokenizer::size() const {
  return impl_->size;
}

std::optional<int64_t> Tokenizer::find_id(std::string_view token) const {
  const std::string key(token);
  if (const auto it = impl_->added_ids.find(key); it != impl_->added_ids.end()) return it->second;
  if (const auto it = impl_->vocab_ids.find(key); it != impl_->vocab_ids.end()) return it->second;
  return std::nullopt;
}

int64_t Tokenizer::id_of(std::string_view token) const {
  const auto id = find_id(token);
  if (!id) throw Error("tokenizer " + impl_->source + ": no token '" + std::string(token) + "'");
  return *id;
}

bool Tokenizer::is_special(int64_t id) const {
  token_bytes(id);  // validates the id
  return impl_->id_special[id];
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return impl_->added;
}
std::optional<int64_t> Tokenizer::bos_token_id() const {
  return impl_->bos;
}
std::optional<int64_t> Tokenizer::eos_token_id() const {
  return impl_->eos;
}
std::optional<int64_t> Tokenizer::pad_token_id() const {
  return impl_->pad;
}
const std::string& Tokenizer::source() const {
  return impl_->source;
}

StreamDecoder::StreamDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special)
    : tokenizer_(std::move(tokenizer)), skip_special_(skip_special) {}

std::string StreamDecoder::push(int64_t id) {
  const std::string& bytes = tokenizer_->token_bytes(id);
  if (skip_special_ && tokenizer_->is_special(id)) return std::string();
  pending_ += bytes;
  const size_t held = unicode::incomplete_suffix_length(pending_);
  std::string ready =
      unicode::to_valid_utf8(std::string_view(pending_).substr(0, pending_.size() - held));
  pending_.erase(0, pending_.size() - held);
  return ready;
}

std::string StreamDecoder::finish() {
  std::string rest = unicode::to_valid_utf8(pending_);
  pending_.clear();
  return rest;
}

}  // namespace slowfast
