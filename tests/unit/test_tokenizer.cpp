#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "slowfast.h"
#include "tokenizer/bpe.h"
#include "tokenizer/regex_split.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_support.h"

namespace slowfast {
namespace {

using nlohmann::json;
using test::TempDir;

// One record of tests/data/tokenizer/tokenizer_fixture.jsonl (see generate_fixture.mjs).
struct FixtureCase {
  std::string text;
  std::vector<int64_t> ids;
  std::string decoded;  // decode(ids): NFC(text)
  std::string skipped;  // decode(ids, skip_special_tokens)
  bool has_slice = false;
  size_t slice_begin = 0, slice_end = 0;
  std::string slice_decoded;
};

std::vector<FixtureCase> read_fixture(std::string& reason) {
  const char* data = std::getenv("SLOWFAST_TEST_DATA");
  if (!data) {
    reason = "SLOWFAST_TEST_DATA is not set (run through meson test)";
    return {};
  }
  const std::string path = std::string(data) + "/tokenizer/tokenizer_fixture.jsonl";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the fixture " + path);
  std::vector<FixtureCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    const json record = json::parse(line);
    FixtureCase c;
    c.text = record["text"].get<std::string>();
    c.ids = record["ids"].get<std::vector<int64_t>>();
    c.decoded = record.value("decoded", c.text);
    c.skipped = record.value("skipped", c.decoded);
    if (record.contains("slice")) {
      c.has_slice = true;
      c.slice_begin = record["slice"][0].get<size_t>();
      c.slice_end = record["slice"][1].get<size_t>();
      c.slice_decoded = record["slice"][2].get<std::string>();
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

// The real Qwen tokenizer, loaded once for the suite.
class QwenTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(test::reference_tokenizer_path(*skip_reason_));
    if (!path_->empty()) tokenizer_ = new std::shared_ptr<const Tokenizer>(Tokenizer::load(*path_));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
    delete path_;
  }
  void SetUp() override {
    if (!tokenizer_) GTEST_SKIP() << *skip_reason_;
  }
  const Tokenizer& tokenizer() const { return **tokenizer_; }

  static std::string* path_;
  static std::string* skip_reason_;
  static std::shared_ptr<const Tokenizer>* tokenizer_;
};
std::string* QwenTokenizer::path_ = nullptr;
std::string* QwenTokenizer::skip_reason_ = new std::string();
std::shared_ptr<const Tokenizer>* QwenTokenizer::tokenizer_ = nullptr;

std::string show(const std::string& text) {
  return json(text).dump();
}

TEST_F(QwenTokenizer, EncodesTheFixtureCorpusLikeTheReference) {
  std::string reason;
  const auto cases = read_fixture(reason);
  if (cases.empty()) GTEST_SKIP() << reason;
  ASSERT_GE(cases.size(), 2000u);
  size_t mismatches = 0;
  for (const FixtureCase& c : cases) {
    const auto ids = tokenizer().encode(c.text);
    if (ids != c.ids && ++mismatches <= 10) {
      ADD_FAILURE() << "encode(" << show(c.text) << ") = " << json(ids).dump() << ", reference "
                    << json(c.ids).dump();
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << cases.size() << " strings";
}

TEST_F(QwenTokenizer, DecodesTheFixtureCorpusLikeTheReference) {
  std::string reason;
  const auto cases = read_fixture(reason);
  if (cases.empty()) GTEST_SKIP() << reason;
  size_t slices = 0;
  for (const FixtureCase& c : cases) {
    EXPECT_EQ(tokenizer().decode(c.ids), c.decoded) << show(c.text);
    EXPECT_EQ(tokenizer().decode(c.ids, true), c.skipped) << show(c.text);
    if (c.has_slice) {
      ++slices;
      const std::vector<int64_t> middle(c.ids.begin() + c.slice_begin, c.ids.begin() + c.slice_end);
      // Ids cut through characters: the broken bytes must become U+FFFD as the reference does.
      EXPECT_EQ(tokenizer().decode(middle), c.slice_decoded)
          << show(c.text) << " ids [" << c.slice_begin << ", " << c.slice_end << ")";
    }
  }
  EXPECT_GT(slices, 100u);
}

TEST_F(QwenTokenizer, RoundTripGivesTheNfcText) {
  std::string reason;
  const auto cases = read_fixture(reason);
  if (cases.empty()) GTEST_SKIP() << reason;
  size_t changed_by_nfc = 0;
  for (const FixtureCase& c : cases) {
    // Qwen's normalizer is NFC, so decode(encode(s)) is NFC(s), which is s for most strings.
    const std::string nfc = unicode::normalize(c.text, unicode::NormalizationForm::NFC);
    changed_by_nfc += nfc != c.text;
    EXPECT_EQ(nfc, c.decoded) << show(c.text);
    EXPECT_EQ(tokenizer().decode(tokenizer().encode(c.text)), nfc) << show(c.text);
  }
  EXPECT_GT(changed_by_nfc, 20u) << "the corpus should exercise NFC";
}

TEST_F(QwenTokenizer, StreamingDecodeEqualsDecodeAndNeverBreaksUtf8) {
  std::string reason;
  const auto cases = read_fixture(reason);
  if (cases.empty()) GTEST_SKIP() << reason;
  const std::string replacement = "\xEF\xBF\xBD";
  size_t held_back = 0;
  for (const FixtureCase& c : cases) {
    for (const bool skip : {false, true}) {
      StreamDecoder stream(*tokenizer_, skip);
      std::string streamed;
      for (const int64_t id : c.ids) {
        const std::string piece = stream.push(id);
        ASSERT_TRUE(unicode::is_valid_utf8(piece)) << show(c.text);
        // The text has no U+FFFD, so a piece with one would be a broken character.
        EXPECT_EQ(piece.find(replacement), std::string::npos) << show(c.text);
        held_back += piece.empty();
        streamed += piece;
      }
      streamed += stream.finish();
      EXPECT_EQ(streamed, skip ? c.skipped : c.decoded) << show(c.text);
    }
  }
  EXPECT_GT(held_back, 0u) << "no token ever ended inside a character";
}

// The id of the token that is the single byte `byte`.
int64_t byte_token(const Tokenizer& tokenizer, unsigned char byte) {
  return tokenizer.id_of(test::byte_level(std::string(1, static_cast<char>(byte))));
}

TEST_F(QwenTokenizer, StreamingHoldsIncompleteCharactersAndReplacesBrokenOnes) {
  const Tokenizer& t = tokenizer();
  // U+4E16 is E4 B8 96 in UTF-8.
  StreamDecoder stream(*tokenizer_);
  EXPECT_EQ(stream.push(byte_token(t, 0xE4)), "");
  EXPECT_EQ(stream.push(byte_token(t, 0xB8)), "");
  EXPECT_EQ(stream.push(byte_token(t, 0x96)), "\xE4\xB8\x96");
  EXPECT_EQ(stream.finish(), "");

  // Ended inside a character: one U+FFFD for the maximal subpart, as errors='replace' gives.
  EXPECT_EQ(stream.push(byte_token(t, 0xE4)), "");
  EXPECT_EQ(stream.push(byte_token(t, 0xB8)), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
  EXPECT_EQ(t.decode({byte_token(t, 0xE4), byte_token(t, 0xB8)}), "\xEF\xBF\xBD");

  // A character interrupted by ASCII, and a byte that never starts a character.
  EXPECT_EQ(stream.push(byte_token(t, 0xE4)), "");
  EXPECT_EQ(stream.push(t.encode("a").front()),
            "\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(stream.push(byte_token(t, 0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.finish(), "");
}

TEST_F(QwenTokenizer, SizeAndSpecialTokensFollowTheFile) {
  std::ifstream in(*path_);
  const json file = json::parse(in);
  const json& added = file["added_tokens"];
  int64_t extra = 0;
  for (const json& token : added) {
    const auto content = token["content"].get<std::string>();
    const auto id = token["id"].get<int64_t>();
    EXPECT_EQ(tokenizer().id_of(content), id) << content;
    EXPECT_EQ(tokenizer().is_special(id), token["special"].get<bool>()) << content;
    // Text containing the token encodes to its id alone.
    EXPECT_EQ(tokenizer().encode(content), std::vector<int64_t>{id}) << content;
    extra += !file["model"]["vocab"].contains(content);
  }
  EXPECT_EQ(tokenizer().size(), static_cast<int64_t>(file["model"]["vocab"].size()) + extra);
  EXPECT_EQ(tokenizer().size(), 151669);  // golden/README.md: the logits cover these ids
  EXPECT_FALSE(tokenizer().is_special(tokenizer().id_of("Ġthe")));
  EXPECT_FALSE(tokenizer().find_id("<|no_such_token|>").has_value());
  EXPECT_THROW(tokenizer().id_of("<|no_such_token|>"), Error);
  EXPECT_THROW(tokenizer().decode({tokenizer().size()}), Error);
  EXPECT_THROW(tokenizer().decode({-1}), Error);
}

TEST_F(QwenTokenizer, ReadsTokenizerConfigBeside) {
  const auto config_path = std::filesystem::path(*path_).parent_path() / "tokenizer_config.json";
  if (!std::filesystem::exists(config_path)) GTEST_SKIP() << "no tokenizer_config.json beside";
  std::ifstream in(config_path);
  const json config = json::parse(in);
  EXPECT_EQ(tokenizer().eos_token_id(), tokenizer().id_of(config["eos_token"].get<std::string>()));
  EXPECT_EQ(tokenizer().pad_token_id(), tokenizer().id_of(config["pad_token"].get<std::string>()));
  EXPECT_EQ(tokenizer().bos_token_id().has_value(), !config["bos_token"].is_null());
  // A directory loads the same tokenizer as its tokenizer.json.
  const auto from_dir = Tokenizer::load(std::filesystem::path(*path_).parent_path().string());
  EXPECT_EQ(from_dir->size(), tokenizer().size());
  EXPECT_EQ(from_dir->encode("Hello <|im_end|> wörld"),
            tokenizer().encode("Hello <|im_end|> wörld"));
}

TEST_F(QwenTokenizer, ReadsIllFormedUtf8AsReplacementCharacters) {
  EXPECT_EQ(tokenizer().encode("a\xFF"
                               "b"),
            tokenizer().encode("a\xEF\xBF\xBD"
                               "b"));
  EXPECT_EQ(tokenizer().encode("\xE4\xB8"), tokenizer().encode("\xEF\xBF\xBD"));
}

// Where JavaScript's regex classes (the fixture's reference) and Oniguruma (Hugging Face's) part,
// the tokenizer follows Oniguruma: \s is Unicode White_Space. Each text must encode as its
// pieces under that reading; the JavaScript reading splits each differently (other ids).
TEST_F(QwenTokenizer, WhiteSpaceIsUnicodeWhiteSpace) {
  const Tokenizer& t = tokenizer();
  auto pieces = [&](std::initializer_list<std::string> parts) {
    std::vector<int64_t> ids;
    for (const auto& part : parts) {
      const auto part_ids = t.encode(part);
      ids.insert(ids.end(), part_ids.begin(), part_ids.end());
    }
    return ids;
  };
  // NEL (U+0085) is white space: "x", " ", "\u0085y" (JavaScript: "x", " \u0085", "y").
  EXPECT_EQ(t.encode("x \xC2\x85y"), pieces({"x", " ", "\xC2\x85y"}));
  // U+FEFF is not: "a", " \uFEFF", "bc" (JavaScript: "a", " ", "\uFEFFbc").
  EXPECT_EQ(t.encode("a \xEF\xBB\xBF"
                     "bc"),
            pieces({"a", " \xEF\xBB\xBF", "bc"}));
  // Nor is U+180E, which PCRE2's own \s would take: "a", " \u180E", "bc".
  EXPECT_EQ(t.encode("a \xE1\xA0\x8E"
                     "bc"),
            pieces({"a", " \xE1\xA0\x8E", "bc"}));
}

// Qwen's split pattern backs off over a whole run of white space (`\s*[\r\n]+` before
// `\s+(?!\S)`): 10 MB of it exceeded PCRE2's default match limit and was refused as "match
// limit exceeded". Valid text of any length encodes and decodes back.
TEST_F(QwenTokenizer, MegabytesOfWhiteSpaceEncode) {
  const std::string text = "a" + std::string(10 << 20, ' ') + "b";
  const std::vector<int64_t> ids = tokenizer().encode(text);
  EXPECT_LT(ids.size(), text.size() / 8);  // long runs of spaces are single tokens
  EXPECT_EQ(tokenizer().decode(ids), text);
}

TEST_F(QwenTokenizer, EncodesConcurrentlyFromSeveralThreads) {
  const std::string text = "Concurrent encoding: 同时编码 12345 <|im_end|> done.";
  const auto expected = tokenizer().encode(text + " warm-up");
  std::vector<std::vector<int64_t>> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int repeat = 0; repeat < 200; ++repeat) {
        results[i] = tokenizer().encode(text + " " + std::to_string(repeat % 7));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& ids : results)
    EXPECT_EQ(ids, tokenizer().encode(text + " " + std::to_string(199 % 7)));
  EXPECT_FALSE(expected.empty());
}

TEST_F(QwenTokenizer, VocabJsonAndMergesTxtGiveTheSameIds) {
  // Rewrite the real tokenizer as the slow format and compare on part of the corpus.
  std::ifstream in(*path_);
  const json file = json::parse(in);
  TempDir dir;
  dir.write("vocab.json", file["model"]["vocab"].dump());
  std::string merges = "#version: 0.2\n";
  for (const json& merge : file["model"]["merges"]) {
    merges += merge.is_string() ? merge.get<std::string>()
                                : merge[0].get<std::string>() + " " + merge[1].get<std::string>();
    merges += "\n";
  }
  dir.write("merges.txt", merges);
  json added_decoder = json::object();
  for (const json& token : file["added_tokens"]) {
    json entry = token;
    entry.erase("id");
    added_decoder[std::to_string(token["id"].get<int64_t>())] = entry;
  }
  dir.write("tokenizer_config.json", json{{"tokenizer_class", "Qwen2Tokenizer"},
                                          {"added_tokens_decoder", added_decoder},
                                          {"eos_token", "<|im_end|>"}}
                                         .dump());
  const auto slow = Tokenizer::load(dir.path().string());
  EXPECT_EQ(slow->size(), tokenizer().size());
  EXPECT_EQ(slow->eos_token_id(), tokenizer().id_of("<|im_end|>"));
  std::string reason;
  const auto cases = read_fixture(reason);
  if (cases.empty()) GTEST_SKIP() << reason;
  for (size_t i = 0; i < cases.size(); i += 7) {
    EXPECT_EQ(slow->encode(cases[i].text), cases[i].ids) << show(cases[i].text);
  }
}

// --- Small tokenizers written by the tests ---

std::shared_ptr<const Tokenizer> load_json(const TempDir& dir, const json& tokenizer_json) {
  return Tokenizer::load(dir.write("tokenizer.json", tokenizer_json.dump()));
}

std::vector<int64_t> bytes_of(const std::string& text) {
  std::vector<int64_t> ids;
  for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

TEST(SmallTokenizer, MergesApplyByRankNotByPosition) {
  TempDir dir;
  // "abc": with (b,c) ranked first the result is a + bc; with (a,b) first it is ab + c.
  const auto bc_first = load_json(dir, test::small_tokenizer_json({{"b", "c"}, {"a", "b"}}));
  EXPECT_EQ(bc_first->encode("abc"), (std::vector<int64_t>{'a', 256}));
  TempDir other;
  const auto ab_first = load_json(other, test::small_tokenizer_json({{"a", "b"}, {"b", "c"}}));
  EXPECT_EQ(ab_first->encode("abc"), (std::vector<int64_t>{256, 'c'}));
  // Equal pairs merge from the left: "aaa" -> aa + a.
  TempDir third;
  const auto aa = load_json(third, test::small_tokenizer_json({{"a", "a"}}));
  EXPECT_EQ(aa->encode("aaa"), (std::vector<int64_t>{256, 'a'}));
  EXPECT_EQ(aa->encode("aaaa"), (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(aa->decode({256, 'a'}), "aaa");
  EXPECT_EQ(aa->size(), 257);
}

TEST(SmallTokenizer, MergesAsPairsEqualMergesAsStrings) {
  const std::vector<std::pair<std::string, std::string>> merges = {
      {" ", "t"}, {"h", "e"}, {" t", "he"}, {"r", "e"}, {" the", "re"}};
  json as_strings = test::small_tokenizer_json(merges);
  json as_pairs = as_strings;
  as_pairs["model"]["merges"] = json::array();
  for (const auto& [left, right] : merges) {
    as_pairs["model"]["merges"].push_back({test::byte_level(left), test::byte_level(right)});
  }
  TempDir a, b;
  const auto from_strings = load_json(a, as_strings);
  const auto from_pairs = load_json(b, as_pairs);
  const std::string text = "hello there, the theme";
  EXPECT_EQ(from_strings->encode(text), from_pairs->encode(text));
  // " there" merges all the way: Ġt, he, Ġthe, re, Ġthere.
  EXPECT_EQ(from_pairs->encode(" there"), std::vector<int64_t>{from_pairs->id_of("Ġthere")});
  EXPECT_EQ(from_pairs->decode(from_pairs->encode(text)), text);
}

TEST(SmallTokenizer, ByteLevelPrefixSpaceAndGpt2Split) {
  json config = test::small_tokenizer_json({{" ", "h"}, {" h", "i"}});
  config["pre_tokenizer"]["add_prefix_space"] = true;
  TempDir dir;
  const auto tokenizer = load_json(dir, config);
  const int64_t space_hi = tokenizer->id_of("Ġhi");
  // "hi" gains a space; the GPT-2 split keeps " hi" whole and "!" apart.
  EXPECT_EQ(tokenizer->encode("hi"), std::vector<int64_t>{space_hi});
  EXPECT_EQ(tokenizer->encode("hi!"), (std::vector<int64_t>{space_hi, '!'}));
  EXPECT_EQ(tokenizer->encode(" hi"), std::vector<int64_t>{space_hi});
}

TEST(SmallTokenizer, AddedTokensLongestMatchStripAndSingleWord) {
  json config = test::small_tokenizer_json({});
  config["added_tokens"] = {
      test::added_token_json(300, "<x>", true),
      test::added_token_json(301, "<x><y>", true),  // longer than <x>
      test::added_token_json(302, "[L]", false, /*lstrip=*/true),
      test::added_token_json(303, "[R]", false, false, /*rstrip=*/true),
      test::added_token_json(304, "cat", false, false, false, false, /*single_word=*/true),
  };
  TempDir dir;
  const auto t = load_json(dir, config);
  EXPECT_EQ(t->encode("a<x><y>b"), (std::vector<int64_t>{'a', 301, 'b'}));
  EXPECT_EQ(t->encode("<x><x>"), (std::vector<int64_t>{300, 300}));
  EXPECT_EQ(t->encode("<x"), bytes_of("<x"));
  // lstrip swallows the white space before the token, rstrip the white space after.
  EXPECT_EQ(t->encode("a  [L]b"), (std::vector<int64_t>{'a', 302, 'b'}));
  EXPECT_EQ(t->encode("a [R]  b"), (std::vector<int64_t>{'a', ' ', 303, 'b'}));
  // single_word: only where it is not part of a longer word.
  EXPECT_EQ(t->encode("a cat"), (std::vector<int64_t>{'a', ' ', 304}));
  EXPECT_EQ(t->encode("cats"), bytes_of("cats"));
  EXPECT_EQ(t->encode("bobcat"), bytes_of("bobcat"));
  // Special tokens are skipped on request, non-special ones never.
  EXPECT_EQ(t->decode({'a', 300, 302}, true), "a[L]");
  EXPECT_EQ(t->decode({'a', 300, 302}, false), "a<x>[L]");
  // One past the largest id: 256..299 are holes.
  EXPECT_EQ(t->size(), 305);
}

TEST(SmallTokenizer, NormalizedAddedTokensMatchAfterNormalization) {
  json config = test::small_tokenizer_json({});
  config["normalizer"] = {{"type", "NFC"}};
  // "é" written decomposed in the file; matched in NFC text as the composed character.
  config["added_tokens"] = {test::added_token_json(300, "caf\x65\xCC\x81", false, false, false,
                                                   /*normalized=*/true)};
  TempDir dir;
  const auto t = load_json(dir, config);
  EXPECT_EQ(t->encode("un caf\xC3\xA9!"), (std::vector<int64_t>{'u', 'n', ' ', 300, '!'}));
  EXPECT_EQ(t->encode("un caf\x65\xCC\x81!"), (std::vector<int64_t>{'u', 'n', ' ', 300, '!'}));
}

TEST(SmallTokenizer, TemplateProcessingAddsBosOnRequest) {
  json config = test::small_tokenizer_json({});
  config["added_tokens"] = {test::added_token_json(300, "<s>", true)};
  config["post_processor"] = json::parse(R"({
      "type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [300], "tokens": ["<s>"]}}})");
  TempDir dir;
  const auto t = load_json(dir, config);
  EXPECT_EQ(t->encode("hi"), bytes_of("hi"));
  EXPECT_EQ(t->encode("hi", true), (std::vector<int64_t>{300, 'h', 'i'}));
}

TEST(SmallTokenizer, CleanUpTokenizationSpacesWhenTheConfigAsks) {
  TempDir dir;
  dir.write("tokenizer.json", test::small_tokenizer_json({}).dump());
  dir.write("tokenizer_config.json", json{{"clean_up_tokenization_spaces", true}}.dump());
  const auto t = Tokenizer::load(dir.path().string());
  EXPECT_EQ(t->decode(bytes_of("it 's done .")), "it's done.");
}

// --- Bad input: every error names the file and the problem ---

void expect_load_error(const std::string& path, const std::vector<std::string>& fragments) {
  try {
    Tokenizer::load(path);
    ADD_FAILURE() << "loading " << path << " did not fail";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "'" << message << "' lacks '" << fragment << "'";
    }
  }
}

TEST(TokenizerErrors, MissingFileOrDirectory) {
  TempDir dir;
  const std::string missing = (dir.path() / "nothing" / "tokenizer.json").string();
  expect_load_error(missing, {missing, "no such file"});
  expect_load_error(dir.path().string(), {dir.path().string(), "no tokenizer.json"});
  const std::string vocab = dir.write("vocab.json", "{}");
  expect_load_error(vocab, {vocab, "merges.txt"});
}

// Ids index dense tables: an id far beyond the tokens defined is refused, naming the file and the
// token, before a table of its size is allocated (before the fix: 4*10^8 took 67 s and 13 GB,
// 2^31-1 a bare std::bad_alloc).
TEST(TokenizerErrors, IdsFarBeyondTheVocabularyAreRefused) {
  TempDir dir;
  for (const int id : {400000000, 2147483647}) {
    json config = test::small_tokenizer_json({});
    config["added_tokens"].push_back(test::added_token_json(id, "<|huge|>", true));
    const std::string path = dir.write("tokenizer_" + std::to_string(id) + ".json", config.dump());
    expect_load_error(path, {path, "<|huge|>", std::to_string(id)});
  }
  json config = test::small_tokenizer_json({});
  config["model"]["vocab"]["Ġhuge"] = 300000000;
  const std::string path = dir.write("tokenizer_vocab.json", config.dump());
  expect_load_error(path, {path, "300000000"});
}

// Found by tests/fuzz (fuzz_tokenizer_json): two vocabulary tokens on one id, and a vocabulary
// with a hole, whose largest ids size() used to leave out.
TEST(TokenizerErrors, TwoVocabularyTokensOnOneIdAreRefused) {
  TempDir dir;
  json config = test::small_tokenizer_json({});
  config["model"]["vocab"]["!"] = 34;  // '"' has 34 as well
  const std::string path = dir.write("tokenizer.json", config.dump());
  expect_load_error(path, {path, "id 34", "another vocabulary token"});
}

TEST(Tokenizer, SizeCoversTheLargestIdOfAVocabularyWithAHole) {
  TempDir dir;
  json config = test::small_tokenizer_json({{"a", "b"}});  // "ab" is id 256
  config["model"]["vocab"].erase("!");                     // a hole at 33
  config["added_tokens"].push_back(test::added_token_json(300, "<|end|>", true));
  const std::string path = dir.write("tokenizer.json", config.dump());
  const auto tokenizer = Tokenizer::load(path);
  EXPECT_EQ(tokenizer->size(), 301);
  const auto ids = tokenizer->encode("ab<|end|>");
  ASSERT_EQ(ids, (std::vector<int64_t>{256, 300}));
  for (const int64_t id : ids) EXPECT_LT(id, tokenizer->size());
  EXPECT_THROW(tokenizer->decode({33}), Error);
}

TEST(TokenizerErrors, MalformedJson) {
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\",");
  expect_load_error(path, {path, "malformed JSON"});
  TempDir config_dir;
  config_dir.write("tokenizer.json", test::small_tokenizer_json({}).dump());
  const std::string config = config_dir.write("tokenizer_config.json", "[1, 2");
  expect_load_error(config_dir.path().string(), {config, "malformed JSON"});
}

TEST(TokenizerErrors, NoModelOrNoMerges) {
  TempDir dir;
  json config = test::small_tokenizer_json({});
  config.erase("model");
  const std::string no_model = dir.write("no_model.json", config.dump());
  expect_load_error(no_model, {no_model, "no \"model\""});

  config = test::small_tokenizer_json({});
  config["model"].erase("merges");
  const std::string no_merges = dir.write("no_merges.json", config.dump());
  expect_load_error(no_merges, {no_merges, "no \"merges\""});

  config = test::small_tokenizer_json({});
  config["model"].erase("vocab");
  const std::string no_vocab = dir.write("no_vocab.json", config.dump());
  expect_load_error(no_vocab, {no_vocab, "no \"vocab\""});
}

TEST(TokenizerErrors, UnknownModelTypesAreRefusedByName) {
  TempDir dir;
  for (const std::string type : {"WordPiece", "Unigram", "WordLevel"}) {
    json config = test::small_tokenizer_json({});
    config["model"]["type"] = type;
    const std::string path = dir.write(type + ".json", config.dump());
    expect_load_error(path, {path, type, "not supported"});
  }
}

TEST(TokenizerErrors, BadMergesAndUnsupportedStages) {
  TempDir dir;
  json config = test::small_tokenizer_json({});
  config["model"]["merges"] = {"Ġ zz"};
  std::string path = dir.write("unknown_merge.json", config.dump());
  expect_load_error(path, {path, "merge 0", "'zz' is not in the vocabulary"});

  config = test::small_tokenizer_json({});
  config["model"]["merges"] = {"a b c"};
  path = dir.write("three_parts.json", config.dump());
  expect_load_error(path, {path, "merge 0", "two tokens"});

  config = test::small_tokenizer_json({});
  config["normalizer"] = {{"type", "Lowercase"}};
  path = dir.write("lowercase.json", config.dump());
  expect_load_error(path, {path, "normalizer", "Lowercase"});

  config = test::small_tokenizer_json({});
  config["pre_tokenizer"] = {{"type", "Whitespace"}};
  path = dir.write("whitespace.json", config.dump());
  expect_load_error(path, {path, "pre_tokenizer", "Whitespace"});

  config = test::small_tokenizer_json({});
  config["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  path = dir.write("bad_regex.json", config.dump());
  expect_load_error(path, {path, "(unclosed"});

  config = test::small_tokenizer_json({});
  config["decoder"] = {{"type", "WordPiece"}};
  path = dir.write("decoder.json", config.dump());
  expect_load_error(path, {path, "decoder"});

  config = test::small_tokenizer_json({});
  config["model"]["vocab"]["x"] = "seven";
  path = dir.write("bad_id.json", config.dump());
  expect_load_error(path, {path, "'x'"});
}

TEST(TokenizerErrors, VocabJsonNeedsAKnownTokenizerClass) {
  TempDir dir;
  dir.write("vocab.json", test::small_tokenizer_json({})["model"]["vocab"].dump());
  dir.write("merges.txt", "#version: 0.2\n");
  expect_load_error(dir.path().string(), {"vocab.json", "tokenizer_class"});
  dir.write("merges.txt", "#version: 0.2\nĠ t x\n");
  dir.write("tokenizer_config.json", json{{"tokenizer_class", "GPT2Tokenizer"}}.dump());
  expect_load_error(dir.path().string(), {"merges.txt", "line 2"});
}

// --- Pieces ---

std::vector<std::string> split_with(const std::string& pattern,
                                    tokenization::SplitBehavior behavior, const std::string& text) {
  tokenization::RegexSplitter splitter(pattern, false, behavior, "test");
  std::vector<tokenization::ByteRange> ranges;
  splitter.split(text, ranges);
  std::vector<std::string> pieces;
  for (const auto& r : ranges) pieces.push_back(text.substr(r.begin, r.end - r.begin));
  return pieces;
}

TEST(RegexSplit, BehavioursFollowTokenizersDocumentation) {
  // tokenizers' SplitDelimiterBehavior documents "the-final--countdown" split on "-".
  using B = tokenization::SplitBehavior;
  const std::string text = "the-final--countdown";
  EXPECT_EQ(split_with("-", B::Removed, text),
            (std::vector<std::string>{"the", "final", "countdown"}));
  EXPECT_EQ(split_with("-", B::Isolated, text),
            (std::vector<std::string>{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split_with("-", B::MergedWithPrevious, text),
            (std::vector<std::string>{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split_with("-", B::MergedWithNext, text),
            (std::vector<std::string>{"the", "-final", "-", "-countdown"}));
}

TEST(RegexSplit, WhiteSpaceClassIsUnicodeWhiteSpace) {
  // NEL and NBSP are White_Space; MONGOLIAN VOWEL SEPARATOR and ZERO WIDTH NO-BREAK SPACE are not.
  const std::string text = "x\xE1\xA0\x8Ey\xC2\x85z\xC2\xA0w\xEF\xBB\xBFv";
  EXPECT_EQ(
      split_with(R"(\s+)", tokenization::SplitBehavior::Isolated, text),
      (std::vector<std::string>{"x\xE1\xA0\x8Ey", "\xC2\x85", "z", "\xC2\xA0", "w\xEF\xBB\xBFv"}));
  EXPECT_EQ(split_with(R"(\S+)", tokenization::SplitBehavior::Removed,
                       "a\xC2\x85"
                       "b c"),
            (std::vector<std::string>{"\xC2\x85", " "}));
  EXPECT_EQ(tokenization::oniguruma_to_pcre2(R"([^\s\p{L}]|\S)"),
            std::string("[^") + R"(\t\n\x0B\f\r\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A})" +
                R"(\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\p{L}]|[^\t\n\x0B\f\r\x20\x{85})" +
                R"(\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}])");
}

TEST(Utf8, ReplacementFollowsMaximalSubparts) {
  // Unicode 15, section 3.9, Table 3-8: each maximal subpart becomes one U+FFFD.
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(unicode::to_valid_utf8("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d");
  EXPECT_EQ(unicode::to_valid_utf8("\xED\xA0\x80"), fffd + fffd + fffd);  // a surrogate
  EXPECT_EQ(unicode::to_valid_utf8("\xC0\xAF"), fffd + fffd);             // overlong
  EXPECT_EQ(unicode::incomplete_suffix_length("ab\xF0\x9F\x98"), 3u);
  EXPECT_EQ(unicode::incomplete_suffix_length("ab\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(unicode::incomplete_suffix_length("ab\xED\xA0"), 0u);  // can never complete
}

}  // namespace
}  // namespace slowfast
