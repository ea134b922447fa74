#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_support.h"

namespace slowfast {
namespace {

using nlohmann::json;

std::vector<int64_t> concat(std::initializer_list<std::vector<int64_t>> parts) {
  std::vector<int64_t> out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

TEST(ChatTemplate, Qwen15PromptIsTheSpecsTemplate) {
  // ../shared/spec/model.md section 6, with {question} filled in.
  EXPECT_EQ(qwen_1_5_prompt("What happens?"),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "<image>\nWhat happens?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(qwen_1_5_prompt("Q", true),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "<im_start><image><im_end>\nQ<|im_end|>\n<|im_start|>assistant\n");
}

// The input_ids the original code produced for the golden cases (case.json has the question).
TEST(ChatTemplate, GoldenInputIds) {
  const char* shared = std::getenv("SLOWFAST_SHARED");
  if (!shared || !std::filesystem::exists(std::string(shared) + "/golden")) {
    GTEST_SKIP() << "SLOWFAST_SHARED does not point at the shared golden cases";
  }
  for (const std::string name : {"a", "b"}) {
    const std::filesystem::path dir = std::filesystem::path(shared) / "golden" / name;
    std::ifstream case_file(dir / "case.json"), tokens_file(dir / "expected/tokens.json");
    ASSERT_TRUE(case_file && tokens_file) << dir;
    const json case_json = json::parse(case_file);
    const json tokens = json::parse(tokens_file);
    const auto tokenizer = Tokenizer::load((dir / "model").string());
    const auto ids =
        tokenize_with_image(*tokenizer, qwen_1_5_prompt(case_json["prompt"].get<std::string>()));
    EXPECT_EQ(ids, tokens["input_ids"].get<std::vector<int64_t>>()) << "case " << name;
    EXPECT_EQ(std::count(ids.begin(), ids.end(), kImageTokenIndex), 1) << "case " << name;
    // The generated text decodes as the original decoded it (special tokens skipped).
    EXPECT_EQ(tokenizer->decode(tokens["output_ids"].get<std::vector<int64_t>>(), true),
              tokens["text"].get<std::string>())
        << "case " << name;
  }
}

class ImageSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason;
    const std::string path = test::reference_tokenizer_path(reason);
    if (path.empty()) GTEST_SKIP() << reason;
    tokenizer_ = Tokenizer::load(path);
  }
  std::shared_ptr<const Tokenizer> tokenizer_;
};

TEST_F(ImageSplit, PiecesAreEncodedOnTheirOwn) {
  const Tokenizer& t = *tokenizer_;
  // " x" encodes differently inside "a<image> x" read as one text, so the split matters.
  EXPECT_EQ(tokenize_with_image(t, "look<image> here"),
            concat({t.encode("look"), {kImageTokenIndex}, t.encode(" here")}));
  EXPECT_EQ(tokenize_with_image(t, "<image>"), (std::vector<int64_t>{kImageTokenIndex}));
  EXPECT_EQ(tokenize_with_image(t, "<image><image>\n"),
            concat({{kImageTokenIndex, kImageTokenIndex}, t.encode("\n")}));
  EXPECT_EQ(tokenize_with_image(t, "no image"), t.encode("no image"));
  // Special tokens in the pieces are recognised.
  EXPECT_EQ(tokenize_with_image(t, "<|im_start|>user\n<image>\nQ<|im_end|>"),
            concat({{t.id_of("<|im_start|>")},
                    t.encode("user\n"),
                    {kImageTokenIndex},
                    t.encode("\nQ"),
                    {t.id_of("<|im_end|>")}}));
}

TEST(ImageSplitWithBos, KeepsOneBosAndDropsThePiecesFirstId) {
  // A tokenizer whose template adds BOS (id 300) to every piece, like Llama's: the original
  // keeps the first piece's BOS and removes the first id of every piece.
  json config = test::small_tokenizer_json({});
  config["added_tokens"] = {test::added_token_json(300, "<s>", true)};
  config["post_processor"] = json::parse(R"({
      "type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [300], "tokens": ["<s>"]}}})");
  test::TempDir dir;
  dir.write("tokenizer.json", config.dump());
  dir.write("tokenizer_config.json", json{{"bos_token", "<s>"}}.dump());
  const auto t = Tokenizer::load(dir.path().string());
  ASSERT_EQ(t->bos_token_id(), 300);
  EXPECT_EQ(tokenize_with_image(*t, "ab<image>c"),
            (std::vector<int64_t>{300, 'a', 'b', kImageTokenIndex, 'c'}));
}

}  // namespace
}  // namespace slowfast
