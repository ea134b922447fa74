#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "checkpoint/config.h"
#include "slowfast.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The released checkpoint's keys (spec section 1), without the optional ones.
json release_config() {
  return json{{"vocab_size", 152064},
              {"hidden_size", 3584},
              {"intermediate_size", 18944},
              {"num_hidden_layers", 28},
              {"num_attention_heads", 28},
              {"num_key_value_heads", 4},
              {"rms_norm_eps", 1e-6},
              {"rope_theta", 1000000.0},
              {"max_position_embeddings", 32768},
              {"tie_word_embeddings", false},
              {"eos_token_id", 151645},
              {"mm_vision_tower", "convnext-576"},
              {"mm_hidden_size", 3072},
              {"mm_projector_type", "mlp2x_gelu"},
              {"mm_video_pooling_stride", 2},
              {"cross_attn_every_n_layers", 8},
              {"cross_attn_implementation", "text-only-vanilla-flashattn"},
              {"cross_attn_gating_type", "whole-dynamic-tanh-warmup"},
              {"fast_token_spatial_stride", 1},
              {"fast_token_temporal_stride", 4},
              {"fast_token_temporal_sampling_stride", 1},
              {"min_fast_frames", 16},
              {"tokenizer_model_max_length", 4096},
              {"mm_use_im_start_end", false},
              {"torch_dtype", "bfloat16"}};
}

// A config with a small vision tower of `image_size` and last width `mm_hidden`.
json tiny_config(int64_t image_size, int64_t mm_hidden) {
  json config = release_config();
  config["mm_hidden_size"] = mm_hidden;
  config["vision_config"] = {
      {"depths", {1, 1, 1, 1}}, {"dims", {8, 16, 24, mm_hidden}}, {"image_size", image_size}};
  return config;
}

slowfast::Config parse(const json& config) {
  return slowfast::parse_config(config.dump(), "test");
}

// parse_config must throw slowfast::Error naming the origin and every piece of `parts`.
void expect_refused(const json& config, std::initializer_list<std::string> parts) {
  try {
    slowfast::parse_config(config.dump(), "cfg-origin");
    ADD_FAILURE() << "accepted: " << config.dump();
  } catch (const slowfast::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cfg-origin"), std::string::npos) << message;
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "lacks '" << part << "': " << message;
    }
  }
}

TEST(Config, ReleaseConfigWithSpecDefaults) {
  const slowfast::Config config = parse(release_config());
  EXPECT_EQ(config.hidden_size, 3584);
  EXPECT_EQ(config.head_dim(), 128);
  EXPECT_EQ(config.num_key_value_heads, 4);
  EXPECT_DOUBLE_EQ(config.rope_theta, 1e6);
  EXPECT_EQ(config.cross_attn_min_layer_depth, 0);
  EXPECT_EQ(config.cross_attn_max_layer_depth, 28);
  EXPECT_EQ(config.hybrid_layers(), (std::vector<int64_t>{0, 8, 16, 24}));
  EXPECT_TRUE(config.is_hybrid_layer(16));
  EXPECT_FALSE(config.is_hybrid_layer(17));
  EXPECT_FALSE(config.is_hybrid_layer(32));
  // No vision_config: "convnext-576" is ConvNeXt-XXLarge at 576 px.
  EXPECT_EQ(config.vision.depths, (std::vector<int64_t>{3, 4, 30, 3}));
  EXPECT_EQ(config.vision.dims, (std::vector<int64_t>{384, 768, 1536, 3072}));
  EXPECT_EQ(config.vision.image_size, 576);
  EXPECT_DOUBLE_EQ(config.vision.norm_eps, 1e-5);
  EXPECT_EQ(config.vision.grid_size(), 18);
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{151645}));
  EXPECT_EQ(config.bos_token_id, -1);
}

TEST(Config, OptionalKeysTakeTheOriginalDefaults) {
  json raw = release_config();
  raw["cross_attn_max_layer_depth"] = nullptr;
  raw.erase("num_key_value_heads");
  raw.erase("min_fast_frames");
  raw.erase("tokenizer_model_max_length");
  raw.erase("rope_theta");
  slowfast::Config config = parse(raw);
  EXPECT_EQ(config.cross_attn_max_layer_depth, 28);
  EXPECT_EQ(config.num_key_value_heads, 28);
  EXPECT_EQ(config.min_fast_frames, 1);
  EXPECT_EQ(config.tokenizer_model_max_length, 32768);
  EXPECT_DOUBLE_EQ(config.rope_theta, 10000.0);

  raw["cross_attn_min_layer_depth"] = 3;
  raw["cross_attn_max_layer_depth"] = 20;
  raw["cross_attn_every_n_layers"] = 5;
  config = parse(raw);
  EXPECT_EQ(config.hybrid_layers(), (std::vector<int64_t>{3, 8, 13, 18}));
  // A depth beyond the model is allowed (Python's range) but yields only existing layers.
  raw["cross_attn_max_layer_depth"] = 100;
  EXPECT_EQ(parse(raw).hybrid_layers(), (std::vector<int64_t>{3, 8, 13, 18, 23}));
  config.cross_attn_every_n_layers = 0;
  EXPECT_TRUE(config.hybrid_layers().empty());
  EXPECT_FALSE(config.is_hybrid_layer(3));
}

TEST(Config, EosIdsMergeConfigAndGenerationConfig) {
  std::string pattern = (fs::temp_directory_path() / "slowfast-config-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern;
  json raw = release_config();
  raw["eos_token_id"] = {151645, 7};
  raw["bos_token_id"] = 151643;
  std::ofstream(dir / "config.json") << raw.dump();
  std::ofstream(dir / "generation_config.json") << json{{"eos_token_id", {151643, 7}}}.dump();
  slowfast::Config config = slowfast::load_config((dir / "config.json").string());
  EXPECT_EQ(config.bos_token_id, 151643);
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{151645, 7}));
  slowfast::merge_generation_config(config, (dir / "generation_config.json").string());
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{151645, 7, 151643}));
  // A single id in generation_config.json; an absent file changes nothing.
  std::ofstream(dir / "generation_config.json", std::ios::trunc) << R"({"eos_token_id": 99})";
  slowfast::merge_generation_config(config, (dir / "generation_config.json").string());
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{151645, 7, 151643, 99}));
  slowfast::merge_generation_config(config, (dir / "absent.json").string());
  EXPECT_EQ(config.eos_token_ids.size(), 4u);

  std::ofstream(dir / "generation_config.json", std::ios::trunc) << R"({"eos_token_id": "x"})";
  try {
    slowfast::merge_generation_config(config, (dir / "generation_config.json").string());
    ADD_FAILURE() << "accepted a string eos id";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("generation_config.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("eos_token_id"), std::string::npos);
  }
  // An eos id the model cannot generate is refused, naming the file.
  std::ofstream(dir / "generation_config.json", std::ios::trunc) << R"({"eos_token_id": 200000})";
  try {
    slowfast::merge_generation_config(config, (dir / "generation_config.json").string());
    ADD_FAILURE() << "accepted an eos id beyond the vocabulary";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("generation_config.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("200000"), std::string::npos) << e.what();
  }
  try {
    slowfast::load_config((dir / "absent.json").string());
    ADD_FAILURE() << "loaded a missing file";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.json"), std::string::npos);
  }
  fs::remove_all(dir);
}

TEST(Config, VisionConfigOverridesTheTower) {
  json raw = tiny_config(96, 32);
  raw["mm_vision_tower"] = "my-tiny-convnext";
  raw["vision_config"]["norm_eps"] = 1e-6;
  const slowfast::Config config = parse(raw);
  EXPECT_EQ(config.vision.dims, (std::vector<int64_t>{8, 16, 24, 32}));
  EXPECT_EQ(config.vision.image_size, 96);
  EXPECT_DOUBLE_EQ(config.vision.norm_eps, 1e-6);
  // 3x3 grid pooled by 2 floors to 1x1, as avg_pool2d does in the original (golden case b).
  EXPECT_EQ(config.vision.grid_size(), 3);
}

TEST(Config, EachValidationErrorNamesTheKey) {
  using Edit = std::function<void(json&)>;
  const std::vector<std::tuple<std::string, Edit, std::vector<std::string>>> cases = {
      {"missing hidden_size",
       [](json& c) { c.erase("hidden_size"); },
       {"'hidden_size'", "missing"}},
      {"zero layers",
       [](json& c) { c["num_hidden_layers"] = 0; },
       {"'num_hidden_layers'", "positive"}},
      {"negative vocab", [](json& c) { c["vocab_size"] = -5; }, {"'vocab_size'", "positive"}},
      {"string for an integer",
       [](json& c) { c["intermediate_size"] = "big"; },
       {"'intermediate_size'", "integer"}},
      {"heads do not divide hidden",
       [](json& c) { c["num_attention_heads"] = 27; },
       {"'num_attention_heads'", "divide hidden_size"}},
      {"kv heads do not divide heads",
       [](json& c) { c["num_key_value_heads"] = 5; },
       {"'num_key_value_heads'", "divide num_attention_heads"}},
      {"vision width differs from mm_hidden_size",
       [](json& c) { c["mm_hidden_size"] = 1024; },
       {"'mm_hidden_size'", "3072"}},
      {"unknown projector",
       [](json& c) { c["mm_projector_type"] = "linear"; },
       {"'mm_projector_type'", "'linear'", "mlp2x_gelu"}},
      {"unknown vision tower",
       [](json& c) { c["mm_vision_tower"] = "openai/clip-vit-large"; },
       {"'mm_vision_tower'", "openai/clip-vit-large", "convnext-576"}},
      {"missing vision tower",
       [](json& c) { c.erase("mm_vision_tower"); },
       {"'mm_vision_tower'", "missing"}},
      {"unknown gating",
       [](json& c) { c["cross_attn_gating_type"] = "channel-wise-dynamic-sigmoid"; },
       {"'cross_attn_gating_type'", "channel-wise-dynamic-sigmoid", "whole-dynamic-tanh-warmup"}},
      {"all-token cross-attention",
       [](json& c) { c["cross_attn_implementation"] = "vanilla"; },
       {"'cross_attn_implementation'", "'vanilla'", "text-only-vanilla-flashattn"}},
      {"masksystem cross-attention",
       [](json& c) { c["cross_attn_implementation"] = "text-only-vanilla-masksystem"; },
       {"'cross_attn_implementation'", "text-only-vanilla-masksystem"}},
      {"no cross-attention period",
       [](json& c) { c.erase("cross_attn_every_n_layers"); },
       {"'cross_attn_every_n_layers'", "missing"}},
      {"negative min depth",
       [](json& c) { c["cross_attn_min_layer_depth"] = -1; },
       {"'cross_attn_min_layer_depth'", "negative"}},
      {"pooling stride exceeds the grid",
       [](json& c) { c["mm_video_pooling_stride"] = 19; },
       {"'mm_video_pooling_stride'", "18x18"}},
      {"fast stride exceeds the pooled grid",
       [](json& c) { c["fast_token_spatial_stride"] = 10; },
       {"'fast_token_spatial_stride'", "9x9"}},
      {"zero temporal stride",
       [](json& c) { c["fast_token_temporal_stride"] = 0; },
       {"'fast_token_temporal_stride'", "positive"}},
      {"sliding window", [](json& c) { c["use_sliding_window"] = true; }, {"'use_sliding_window'"}},
      {"rope scaling",
       [](json& c) {
         c["rope_scaling"] = {{"type", "yarn"}};
       },
       {"'rope_scaling'", "yarn"}},
      {"bad eos",
       [](json& c) {
         c["eos_token_id"] = {1, "x"};
       },
       {"'eos_token_id'"}},
      {"integer dtype",
       [](json& c) { c["torch_dtype"] = "int8"; },
       {"'torch_dtype'", "'int8'", "bfloat16"}},
      {"eos beyond the vocabulary",
       [](json& c) { c["eos_token_id"] = 152064; },
       {"'eos_token_id'", "152064", "vocab_size 152064"}},
      {"bos beyond the vocabulary",
       [](json& c) { c["bos_token_id"] = 999999999; },
       {"'bos_token_id'", "999999999"}},
      {"absurd image size",
       [](json& c) { c = tiny_config(32000000, 32); },
       {"'vision_config.image_size'", "32000000", "2048"}},
      {"image size not a multiple of 32",
       [](json& c) { c = tiny_config(100, 32); },
       {"'vision_config.image_size'", "100", "32"}},
      {"vision dims too few",
       [](json& c) {
         c = tiny_config(96, 32);
         c["vision_config"]["dims"] = {16, 32};
       },
       {"'vision_config.dims'", "4"}},
      {"vision depth zero",
       [](json& c) {
         c = tiny_config(96, 32);
         c["vision_config"]["depths"] = {1, 0, 1, 1};
       },
       {"'vision_config.depths'", "positive"}},
      {"vision image size missing",
       [](json& c) {
         c = tiny_config(96, 32);
         c["vision_config"].erase("image_size");
       },
       {"'vision_config.image_size'", "missing"}},
      {"vision_config not an object",
       [](json& c) { c["vision_config"] = 5; },
       {"'vision_config'", "object"}},
  };
  for (const auto& [name, edit, parts] : cases) {
    SCOPED_TRACE(name);
    json config = release_config();
    edit(config);
    try {
      slowfast::parse_config(config.dump(), "cfg-origin");
      ADD_FAILURE() << "accepted";
    } catch (const slowfast::Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("cfg-origin"), std::string::npos) << message;
      for (const auto& part : parts) {
        EXPECT_NE(message.find(part), std::string::npos) << "lacks '" << part << "': " << message;
      }
    }
  }
  expect_refused(json::array({1, 2}), {"not a JSON object"});
  try {
    slowfast::parse_config("{\"hidden_size\": ", "cfg-origin");
    ADD_FAILURE() << "accepted malformed JSON";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cfg-origin"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
}

TEST(Config, GoldenConfigsParseWithTheirDerivedValues) {
  const char* shared = std::getenv("SLOWFAST_SHARED");
  if (shared == nullptr || !fs::exists(fs::path(shared) / "golden")) {
    GTEST_SKIP() << "SLOWFAST_SHARED is not set or has no golden/ cases";
  }
  struct Expected {
    const char* name;
    std::vector<int64_t> hybrid;
  };
  // The golden README: hybrid layers 0 and 2 for a, 1 and 3 for b.
  for (const auto& expected : {Expected{"a", {0, 2}}, Expected{"b", {1, 3}}}) {
    SCOPED_TRACE(expected.name);
    const fs::path model = fs::path(shared) / "golden" / expected.name / "model";
    std::ifstream raw_file(model / "config.json");
    const json raw = json::parse(raw_file);
    slowfast::Config config = slowfast::load_config((model / "config.json").string());
    slowfast::merge_generation_config(config, (model / "generation_config.json").string());

    EXPECT_EQ(config.hybrid_layers(), expected.hybrid);
    EXPECT_EQ(config.hidden_size, raw.at("hidden_size").get<int64_t>());
    EXPECT_EQ(config.num_hidden_layers, raw.at("num_hidden_layers").get<int64_t>());
    EXPECT_EQ(config.head_dim(),
              raw.at("hidden_size").get<int64_t>() / raw.at("num_attention_heads").get<int64_t>());
    EXPECT_EQ(config.vision.dims, raw.at("vision_config").at("dims").get<std::vector<int64_t>>());
    EXPECT_EQ(config.vision.dims.back(), config.mm_hidden_size);
    EXPECT_EQ(config.vision.grid_size(),
              raw.at("vision_config").at("image_size").get<int64_t>() / 32);
    EXPECT_EQ(config.cross_attn_implementation, "text-only-vanilla-flashattn");
    EXPECT_DOUBLE_EQ(config.rope_theta, raw.at("rope_theta").get<double>());
    // config.json's eos first, then generation_config.json's others, without repeats.
    EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  }
}

}  // namespace
