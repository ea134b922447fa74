#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "checkpoint/config.h"
#include "checkpoint/safetensors.h"
#include "slowfast.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using slowfast::test::expect_error;
using slowfast::test::mapped_file_of;
using json = nlohmann::json;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "slowfast-st-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = fs::canonical(pattern);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A hand-made file: 8-byte little-endian `header_length` (default: the header's size), the
  // header text, then `data`.
  std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                        std::optional<uint64_t> header_length = {}) const {
    std::string bytes;
    const uint64_t length = header_length.value_or(header.size());
    for (int i = 0; i < 8; ++i) bytes += static_cast<char>((length >> (8 * i)) & 0xff);
    bytes += header + data;
    const std::string file = path(name);
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }

  fs::path dir_;
};

TEST_F(Safetensors, ReadsValidFileZeroCopyFromTheMapping) {
  torch::manual_seed(1);
  const std::map<std::string, torch::Tensor> source = {
      {"a.weight", torch::randn({4, 3})},
      {"b.half", torch::randn({5}).to(torch::kHalf)},
      {"c.bf16", torch::randn({2, 2, 2}).to(torch::kBFloat16)},
      {"d.empty", torch::zeros({0, 7})},
  };
  const std::string file = path("valid.safetensors");
  slowfast::save_safetensors(file, source, {{"format", "pt"}});

  auto st = slowfast::SafetensorsFile::open(file);
  EXPECT_EQ(st->path(), file);
  EXPECT_EQ(st->metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(st->tensors().size(), source.size());
  EXPECT_EQ(st->tensors().at("a.weight").dtype, "F32");
  EXPECT_EQ(st->tensors().at("b.half").dtype, "F16");
  EXPECT_EQ(st->tensors().at("c.bf16").dtype, "BF16");
  EXPECT_EQ(st->tensors().at("c.bf16").shape, (std::vector<int64_t>{2, 2, 2}));
  for (const auto& [name, tensor] : source) {
    const torch::Tensor view = st->view(name);
    EXPECT_EQ(view.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(view, tensor)) << name;
    if (view.numel() > 0) {
      EXPECT_EQ(mapped_file_of(view.data_ptr()), file) << name << " is not a view of the mapping";
    }
  }
  expect_error([&] { st->view("nope"); }, {file, "'nope'"});
}

TEST_F(Safetensors, ViewsOutliveTheFileObjectAndWritesNeverReachTheFile) {
  const std::string file = path("cow.safetensors");
  slowfast::save_safetensors(file, {{"x", torch::arange(6, torch::kFloat32)}});
  torch::Tensor view = slowfast::SafetensorsFile::open(file)->view("x");
  // The SafetensorsFile is gone; the view's deleter keeps the mapping alive.
  EXPECT_EQ(view[5].item<float>(), 5.0f);
  view.fill_(-1.0f);  // copy-on-write: private pages, not the file
  EXPECT_EQ(view[0].item<float>(), -1.0f);
  EXPECT_TRUE(torch::equal(slowfast::SafetensorsFile::open(file)->view("x"),
                           torch::arange(6).to(torch::kFloat32)));
}

TEST_F(Safetensors, ConvertsHalfAndBFloat16ToFloat32OnRequestOnly) {
  // Bit patterns written by hand: 1.0, -2.5, 0.15625 and the largest finite value of each type.
  const uint16_t half_bits[4] = {0x3C00, 0xC100, 0x3100, 0x7BFF};
  const uint16_t bf16_bits[4] = {0x3F80, 0xC020, 0x3E20, 0x7F7F};
  const float half_expected[4] = {1.0f, -2.5f, 0.15625f, 65504.0f};
  const float bf16_expected[4] = {1.0f, -2.5f, 0.15625f, 3.38953139e38f};
  std::string data(reinterpret_cast<const char*>(half_bits), sizeof(half_bits));
  data.append(reinterpret_cast<const char*>(bf16_bits), sizeof(bf16_bits));
  std::string header = R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]}})";
  // An odd header length leaves the data area misaligned: tensors are then copied, still exact.
  if (header.size() % 2 == 0) header += ' ';
  const std::string misaligned = write_raw("misaligned.safetensors", header, data);
  const torch::Tensor copied = slowfast::SafetensorsFile::open(misaligned)->view("b");
  EXPECT_EQ(copied.flatten()[1].item<float>(), bf16_expected[1]);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(copied.data_ptr()) % 2, 0u);
  // Padded to 8 bytes, as writers do: views, no copies.
  header.append((8 - header.size() % 8) % 8, ' ');
  fs::create_directory(dir_ / "ckpt");
  write_raw("ckpt/model.safetensors", header, data);
  const auto checkpoint = slowfast::Checkpoint::open(path("ckpt"));

  const torch::Tensor h_stored = checkpoint.get("h");
  EXPECT_EQ(h_stored.scalar_type(), torch::kHalf);
  const torch::Tensor b_same = checkpoint.get("b", torch::kBFloat16);
  EXPECT_EQ(b_same.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(b_same.data_ptr(), checkpoint.get("b").data_ptr()) << "same dtype must not copy";

  const torch::Tensor h = checkpoint.get("h", torch::kFloat32);
  const torch::Tensor b = checkpoint.get("b", torch::kFloat32).flatten();
  ASSERT_EQ(h.scalar_type(), torch::kFloat32);
  ASSERT_EQ(b.scalar_type(), torch::kFloat32);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(h[i].item<float>(), half_expected[i]) << i;
    EXPECT_EQ(b[i].item<float>(), bf16_expected[i]) << i;
  }
}

TEST_F(Safetensors, EachBadInputIsRefusedNamingFileAndProblem) {
  const std::string eight(8, '\0');
  const std::string ok_entry = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    std::string name, header, data;
    std::optional<uint64_t> header_length;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"header length past the end", "{}", "", 1000, {"header length 1000", "past the end"}},
      {"header length absurd", "{}", "", 1ull << 50, {"header length", "exceeds"}},
      {"malformed JSON", R"({"x": {"dtype": )", "", {}, {"malformed JSON header"}},
      {"header not an object", "[1, 2]", "", {}, {"not a JSON object"}},
      {"unknown dtype",
       R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
       eight,
       {},
       {"tensor 'x' in ", " has dtype I64; supported: F32, F16, BF16"}},
      {"shape and byte range disagree",
       R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})",
       eight,
       {},
       {"tensor 'x'", "[2, 2] need 16 bytes", "span 8"}},
      {"range past the data area",
       R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
       eight,
       {},
       {"tensor 'x'", "past the data area"}},
      {"overlapping ranges",
       R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       std::string(12, '\0'),
       {},
       {"'x'", "'y'", "overlap"}},
      {"offsets reversed",
       R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})",
       eight,
       {},
       {"tensor 'x'", "end before they begin"}},
      {"bad metadata",
       "{\"__metadata__\":{\"n\":3}," + ok_entry + "}",
       eight,
       {},
       {"__metadata__", "'n'"}},
      {"missing shape",
       R"({"x":{"dtype":"F32","data_offsets":[0,8]}})",
       eight,
       {},
       {"tensor 'x'", "'shape'"}},
  };
  int index = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string file = write_raw("bad" + std::to_string(index++) + ".safetensors", c.header,
                                       c.data, c.header_length);
    try {
      slowfast::SafetensorsFile::open(file);
      ADD_FAILURE() << "accepted: " << c.name;
    } catch (const slowfast::Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(file), std::string::npos) << message;
      for (const auto& part : c.expected) {
        EXPECT_NE(message.find(part), std::string::npos) << "lacks '" << part << "': " << message;
      }
    }
  }

  const std::string truncated = path("truncated.safetensors");
  std::ofstream(truncated, std::ios::binary) << "abc";
  expect_error([&] { slowfast::SafetensorsFile::open(truncated); }, {truncated, "truncated"});
  expect_error([&] { slowfast::SafetensorsFile::open(path("absent.safetensors")); },
               {path("absent.safetensors"), "cannot open"});
}

TEST_F(Safetensors, OpensSingleFileDirectoryOrPath) {
  fs::create_directory(dir_ / "single");
  const std::string file = path("single/model.safetensors");
  slowfast::save_safetensors(file, {{"w", torch::ones({2, 3})}, {"v", torch::zeros({4})}});
  for (const std::string& where : {path("single"), file}) {
    const auto checkpoint = slowfast::Checkpoint::open(where);
    EXPECT_EQ(checkpoint.path(), where);
    EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"v", "w"}));
    EXPECT_TRUE(checkpoint.contains("w"));
    EXPECT_FALSE(checkpoint.contains("u"));
    EXPECT_EQ(checkpoint.info("w").shape, (std::vector<int64_t>{2, 3}));
    EXPECT_TRUE(torch::equal(checkpoint.get("w"), torch::ones({2, 3})));
    expect_error([&] { checkpoint.get("u"); }, {where, "'u'"});
    expect_error([&] { checkpoint.info("u"); }, {where, "'u'"});
  }
}

TEST_F(Safetensors, ShardedCheckpointFollowsTheIndex) {
  fs::create_directory(dir_ / "sharded");
  const std::string shard1 = "model-00001-of-00002.safetensors";
  const std::string shard2 = "model-00002-of-00002.safetensors";
  slowfast::save_safetensors(path("sharded/" + shard1), {{"layer.0.w", torch::full({2}, 1.0f)},
                                                         {"layer.1.w", torch::full({2}, 2.0f)}});
  slowfast::save_safetensors(path("sharded/" + shard2),
                             {{"head.w", torch::full({3}, 3.0f).to(torch::kBFloat16)}});
  const json index = {
      {"metadata", {{"total_size", 20}}},
      {"weight_map", {{"layer.0.w", shard1}, {"layer.1.w", shard1}, {"head.w", shard2}}}};
  std::ofstream(path("sharded/model.safetensors.index.json")) << index.dump(2);

  const auto checkpoint = slowfast::Checkpoint::open(path("sharded"));
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"head.w", "layer.0.w", "layer.1.w"}));
  EXPECT_EQ(checkpoint.get("layer.1.w")[0].item<float>(), 2.0f);
  EXPECT_EQ(checkpoint.info("head.w").dtype, "BF16");
  EXPECT_EQ(checkpoint.get("head.w", torch::kFloat32)[2].item<float>(), 3.0f);
  EXPECT_EQ(mapped_file_of(checkpoint.get("head.w").data_ptr()), path("sharded/" + shard2));
  // The index file itself is accepted as the checkpoint path too.
  EXPECT_EQ(slowfast::Checkpoint::open(path("sharded/model.safetensors.index.json")).names().size(),
            3u);
}

TEST_F(Safetensors, ShardedCheckpointErrorsNameShardAndIndex) {
  fs::create_directory(dir_ / "missing");
  const std::string index_path = path("missing/model.safetensors.index.json");
  slowfast::save_safetensors(path("missing/a.safetensors"), {{"a", torch::ones({1})}});
  std::ofstream(index_path)
      << json{{"weight_map", {{"a", "a.safetensors"}, {"b", "b.safetensors"}}}}.dump();
  expect_error([&] { slowfast::Checkpoint::open(path("missing")); },
               {"b.safetensors", index_path, "does not exist"});

  std::ofstream(index_path, std::ios::trunc)
      << json{{"weight_map", {{"a", "a.safetensors"}, {"ghost", "a.safetensors"}}}}.dump();
  expect_error([&] { slowfast::Checkpoint::open(path("missing")); },
               {index_path, "'ghost'", "a.safetensors", "does not contain it"});

  std::ofstream(index_path, std::ios::trunc)
      << json{{"weight_map", {{"a", "../a.safetensors"}}}}.dump();
  expect_error([&] { slowfast::Checkpoint::open(path("missing")); },
               {index_path, "../a.safetensors"});

  std::ofstream(index_path, std::ios::trunc) << R"({"metadata": {}})";
  expect_error([&] { slowfast::Checkpoint::open(path("missing")); }, {index_path, "weight_map"});

  std::ofstream(index_path, std::ios::trunc) << R"({"weight_map": )";
  expect_error([&] { slowfast::Checkpoint::open(path("missing")); },
               {index_path, "not valid JSON"});
}

TEST_F(Safetensors, PickledCheckpointsAreRefusedWithAnExplanation) {
  fs::create_directory(dir_ / "pickled");
  std::ofstream(path("pickled/pytorch_model.bin")) << "not really a pickle";
  std::ofstream(path("pickled/config.json")) << "{}";
  expect_error([&] { slowfast::Checkpoint::open(path("pickled")); },
               {path("pickled"), "pytorch_model.bin", "execute arbitrary code", "safetensors"});
  std::ofstream(path("weights.pt")) << "x";
  expect_error([&] { slowfast::Checkpoint::open(path("weights.pt")); },
               {"weights.pt", "execute arbitrary code"});

  fs::create_directory(dir_ / "empty");
  expect_error([&] { slowfast::Checkpoint::open(path("empty")); },
               {path("empty"), "model.safetensors"});
  expect_error([&] { slowfast::Checkpoint::open(path("nowhere")); },
               {path("nowhere"), "does not exist"});
}

// The golden checkpoints were written by the original code (Hugging Face safetensors).
TEST_F(Safetensors, OpensGoldenCheckpoints) {
  const char* shared = std::getenv("SLOWFAST_SHARED");
  if (shared == nullptr || !fs::exists(fs::path(shared) / "golden")) {
    GTEST_SKIP() << "SLOWFAST_SHARED is not set or has no golden/ cases";
  }
  for (const char* name : {"a", "b"}) {
    const fs::path model = fs::path(shared) / "golden" / name / "model";
    const auto config = slowfast::load_config((model / "config.json").string());
    const auto checkpoint = slowfast::Checkpoint::open(model.string());
    for (const auto& tensor : checkpoint.names()) {
      EXPECT_EQ(checkpoint.info(tensor).dtype, "BF16") << tensor;
    }
    EXPECT_EQ(checkpoint.info("lm_head.weight").shape,
              (std::vector<int64_t>{config.vocab_size, config.hidden_size}));
    EXPECT_EQ(checkpoint.info("model.norm.weight").shape,
              (std::vector<int64_t>{config.hidden_size}));
    for (int64_t layer : config.hybrid_layers()) {
      EXPECT_TRUE(checkpoint.contains("model.layers." + std::to_string(layer) +
                                      ".self_attn.cross_attn_warm_up_gate"));
    }
    const torch::Tensor norm = checkpoint.get("model.norm.weight", torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(norm).all().item<bool>());
  }
}

}  // namespace
