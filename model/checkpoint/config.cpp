#include "checkpoint/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "slowfast.h"
#include "util/json_file.h"
#include "util/log.h"

namespace slowfast {
namespace {

using json = nlohmann::json;

// The only values this engine implements; the original code knows more (see validate()).
constexpr char kProjectorType[] = "mlp2x_gelu";
constexpr char kGatingType[] = "whole-dynamic-tanh-warmup";
// "text-only-vanilla": text tokens attend to the slow tokens; "-flashattn" only picks the kernel.
const std::vector<std::string> kCrossAttnImplementations = {"text-only-vanilla",
                                                            "text-only-vanilla-flashattn"};
constexpr char kConvNext576[] = "convnext-576";
// The original hard-codes ConvNeXt-XXLarge at 576 px for "convnext-576".
const VisionConfig kConvNextXXLarge576 = {{3, 4, 30, 3}, {384, 768, 1536, 3072}, 576, 1e-5};
// Stem (/4) then three 2x downsamplings: four stages reduce the image by 32.
constexpr size_t kVisionStages = 4;
constexpr int64_t kVisionReduction = 32;
// Every frame is resized to image_size squared before the tower; beyond this (12x the release's
// 576 px in pixels) one frame's activations take gigabytes, so a larger value is a typo.
constexpr int64_t kMaxImageSize = 2048;
// config.json's torch_dtype: the stored precision. The engine computes in float32 or bfloat16
// whatever it says, but an integer or unknown dtype means the file is not this model's.
const std::vector<std::string> kTorchDtypes = {"float32", "bfloat16", "float16"};

// Typed access to one JSON object with error messages naming the origin and key.
class Reader {
 public:
  Reader(const json& object, std::string origin, std::string prefix = "")
      : object_(object), origin_(std::move(origin)), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw Error("config " + origin_ + ": key '" + prefix_ + key + "' " + problem);
  }

  // Present and not null.
  bool has(const std::string& key) const {
    auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }
  const json& at(const std::string& key) const {
    if (!has(key)) fail(key, "is missing (required)");
    return object_.at(key);
  }

  int64_t integer(const std::string& key) const {
    const json& value = at(key);
    if (!value.is_number_integer()) fail(key, "must be an integer, got " + value.dump());
    if (value.is_number_unsigned() &&
        value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(key, "is out of range: " + value.dump());
    }
    return value.get<int64_t>();
  }
  int64_t integer(const std::string& key, int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
  }
  int64_t positive(const std::string& key) const {
    const int64_t value = integer(key);
    if (value <= 0) fail(key, "must be positive, got " + std::to_string(value));
    return value;
  }
  int64_t positive(const std::string& key, int64_t fallback) const {
    return has(key) ? positive(key) : fallback;
  }
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const json& value = object_.at(key);
    if (!value.is_number()) fail(key, "must be a number, got " + value.dump());
    return value.get<double>();
  }
  double positive_number(const std::string& key, double fallback) const {
    const double value = number(key, fallback);
    if (!(value > 0)) fail(key, "must be positive, got " + std::to_string(value));
    return value;
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& value = object_.at(key);
    if (!value.is_boolean()) fail(key, "must be true or false, got " + value.dump());
    return value.get<bool>();
  }
  std::string string(const std::string& key) const {
    const json& value = at(key);
    if (!value.is_string()) fail(key, "must be a string, got " + value.dump());
    return value.get<std::string>();
  }
  std::string string(const std::string& key, const std::string& fallback) const {
    return has(key) ? string(key) : fallback;
  }
  std::vector<int64_t> positive_list(const std::string& key) const {
    const json& value = at(key);
    if (!value.is_array()) fail(key, "must be a list of positive integers, got " + value.dump());
    std::vector<int64_t> out;
    for (const auto& item : value) {
      if (!item.is_number_integer() || item.get<int64_t>() <= 0) {
        fail(key, "must be a list of positive integers, got " + value.dump());
      }
      out.push_back(item.get<int64_t>());
    }
    return out;
  }
  // An id or a list of ids (Hugging Face allows both for eos_token_id).
  std::vector<int64_t> ids(const std::string& key) const {
    if (!has(key)) return {};
    const json& value = object_.at(key);
    std::vector<int64_t> out;
    if (value.is_number_integer()) {
      out.push_back(value.get<int64_t>());
    } else if (value.is_array()) {
      for (const auto& item : value) {
        if (!item.is_number_integer()) fail(key, "must be an integer or a list of integers");
        out.push_back(item.get<int64_t>());
      }
    } else {
      fail(key, "must be an integer or a list of integers, got " + value.dump());
    }
    for (int64_t id : out) {
      if (id < 0) fail(key, "holds a negative token id " + std::to_string(id));
    }
    return out;
  }

 private:
  const json& object_;
  std::string origin_;
  std::string prefix_;
};

void append_unique(std::vector<int64_t>& ids, const std::vector<int64_t>& more) {
  for (int64_t id : more) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
}

// Token ids the model generates or starts with must be rows of its embedding.
void check_token_ids(const Reader& reader, const std::string& key, const std::vector<int64_t>& ids,
                     int64_t vocab_size) {
  for (int64_t id : ids) {
    if (id >= vocab_size) {
      reader.fail(key, "holds token id " + std::to_string(id) + ", not below vocab_size " +
                           std::to_string(vocab_size));
    }
  }
}

json parse_object(const std::string& text, const std::string& origin) {
  const json root = parse_json(text, "config", origin);
  if (!root.is_object()) throw Error("config " + origin + " is not a JSON object");
  return root;
}

VisionConfig parse_vision_config(const Reader& config, const json& root, const std::string& tower,
                                 const std::string& origin) {
  if (config.has("vision_config")) {
    const json& object = root.at("vision_config");
    if (!object.is_object()) config.fail("vision_config", "must be an object");
    const Reader reader(object, origin, "vision_config.");
    VisionConfig vision;
    vision.depths = reader.positive_list("depths");
    vision.dims = reader.positive_list("dims");
    vision.image_size = reader.positive("image_size");
    vision.norm_eps = reader.positive_number("norm_eps", 1e-5);
    if (vision.depths.size() != kVisionStages) {
      reader.fail("depths", "must list " + std::to_string(kVisionStages) +
                                " ConvNeXt stages, got " + object.at("depths").dump());
    }
    if (vision.dims.size() != kVisionStages) {
      reader.fail("dims", "must list " + std::to_string(kVisionStages) + " ConvNeXt stages, got " +
                              object.at("dims").dump());
    }
    return vision;
  }
  if (tower == kConvNext576) return kConvNextXXLarge576;
  config.fail("mm_vision_tower", "names the unknown vision tower '" + tower + "'; supported: '" +
                                     kConvNext576 + "', or any name with a 'vision_config' object");
}

void validate(const Config& config, const Reader& reader) {
  if (config.hidden_size % config.num_attention_heads != 0) {
    reader.fail("num_attention_heads", "(" + std::to_string(config.num_attention_heads) +
                                           ") must divide hidden_size (" +
                                           std::to_string(config.hidden_size) + ")");
  }
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    reader.fail("num_key_value_heads", "(" + std::to_string(config.num_key_value_heads) +
                                           ") must divide num_attention_heads (" +
                                           std::to_string(config.num_attention_heads) + ")");
  }
  if (config.mm_projector_type != kProjectorType) {
    reader.fail("mm_projector_type",
                "is '" + config.mm_projector_type + "'; supported: '" + kProjectorType + "'");
  }
  if (config.cross_attn_gating_type != kGatingType) {
    reader.fail("cross_attn_gating_type",
                "is '" + config.cross_attn_gating_type + "'; supported: '" + kGatingType + "'");
  }
  if (std::find(kCrossAttnImplementations.begin(), kCrossAttnImplementations.end(),
                config.cross_attn_implementation) == kCrossAttnImplementations.end()) {
    std::string supported;
    for (const auto& name : kCrossAttnImplementations) {
      supported += (supported.empty() ? "'" : ", '") + name + "'";
    }
    // The original also has "vanilla*" (every token, visual ones too, attends to the slow
    // tokens, warm-up gate without tanh) and "*masksystem*" (the system prompt does not attend).
    reader.fail("cross_attn_implementation", "is '" + config.cross_attn_implementation +
                                                 "', a variant this engine does not "
                                                 "implement; supported: " +
                                                 supported);
  }

  const VisionConfig& vision = config.vision;
  if (vision.dims.back() != config.mm_hidden_size) {
    reader.fail("mm_hidden_size", "(" + std::to_string(config.mm_hidden_size) +
                                      ") must equal the vision tower's last stage width (" +
                                      std::to_string(vision.dims.back()) + ")");
  }
  if (vision.image_size > kMaxImageSize) {
    reader.fail("vision_config.image_size", "(" + std::to_string(vision.image_size) + ") exceeds " +
                                                std::to_string(kMaxImageSize) +
                                                " pixels (the release uses 576)");
  }
  if (vision.image_size % kVisionReduction != 0) {
    reader.fail("vision_config.image_size", "(" + std::to_string(vision.image_size) +
                                                ") must be divisible by " +
                                                std::to_string(kVisionReduction));
  }
  // avg_pool2d floors, as in the original: a grid that is not a multiple of the stride loses its
  // last row and column, but every stride must leave at least one token.
  const int64_t grid = vision.grid_size();
  if (config.mm_video_pooling_stride > grid) {
    reader.fail("mm_video_pooling_stride", "(" + std::to_string(config.mm_video_pooling_stride) +
                                               ") exceeds the " + std::to_string(grid) + "x" +
                                               std::to_string(grid) + " feature grid");
  }
  const int64_t pooled = grid / config.mm_video_pooling_stride;
  if (config.fast_token_spatial_stride > pooled) {
    reader.fail("fast_token_spatial_stride",
                "(" + std::to_string(config.fast_token_spatial_stride) + ") exceeds the " +
                    std::to_string(pooled) + "x" + std::to_string(pooled) + " pooled feature grid");
  }
}

}  // namespace

bool Config::is_hybrid_layer(int64_t layer) const {
  // Python's range(min_depth, max_depth, every_n), restricted to existing layers.
  if (cross_attn_every_n_layers <= 0 || layer < 0 || layer >= num_hidden_layers) return false;
  if (layer < cross_attn_min_layer_depth || layer >= cross_attn_max_layer_depth) return false;
  return (layer - cross_attn_min_layer_depth) % cross_attn_every_n_layers == 0;
}

std::vector<int64_t> Config::hybrid_layers() const {
  std::vector<int64_t> layers;
  for (int64_t layer = 0; layer < num_hidden_layers; ++layer) {
    if (is_hybrid_layer(layer)) layers.push_back(layer);
  }
  return layers;
}

Config parse_config(const std::string& json_text, const std::string& origin) {
  const json root = parse_object(json_text, origin);
  const Reader reader(root, origin);
  Config config;

  config.vocab_size = reader.positive("vocab_size");
  config.hidden_size = reader.positive("hidden_size");
  config.intermediate_size = reader.positive("intermediate_size");
  config.num_hidden_layers = reader.positive("num_hidden_layers");
  config.num_attention_heads = reader.positive("num_attention_heads");
  // Qwen2Config's defaults where the key is optional.
  config.num_key_value_heads = reader.positive("num_key_value_heads", config.num_attention_heads);
  config.rms_norm_eps = reader.positive_number("rms_norm_eps", 1e-6);
  config.rope_theta = reader.positive_number("rope_theta", 10000.0);
  config.max_position_embeddings = reader.positive("max_position_embeddings", 32768);
  config.tie_word_embeddings = reader.boolean("tie_word_embeddings", false);
  const std::vector<int64_t> bos = reader.ids("bos_token_id");
  config.bos_token_id = bos.empty() ? -1 : bos.front();
  append_unique(config.eos_token_ids, reader.ids("eos_token_id"));
  config.torch_dtype = reader.string("torch_dtype", "bfloat16");
  if (std::find(kTorchDtypes.begin(), kTorchDtypes.end(), config.torch_dtype) ==
      kTorchDtypes.end()) {
    reader.fail("torch_dtype",
                "is '" + config.torch_dtype + "'; supported: 'float32', 'bfloat16', 'float16'");
  }
  check_token_ids(reader, "bos_token_id", bos, config.vocab_size);
  check_token_ids(reader, "eos_token_id", config.eos_token_ids, config.vocab_size);
  // Variants of Qwen2 this engine does not implement are refused rather than run wrongly.
  if (reader.string("hidden_act", "silu") != "silu") {
    reader.fail("hidden_act", "is '" + reader.string("hidden_act") + "'; supported: 'silu'");
  }
  if (reader.has("rope_scaling")) {
    reader.fail("rope_scaling", "is set (" + root.at("rope_scaling").dump() +
                                    "); only plain RoPE (null) is supported");
  }
  if (reader.boolean("use_sliding_window", false)) {
    reader.fail("use_sliding_window", "is true; sliding-window attention is not supported");
  }

  config.mm_vision_tower = reader.string("mm_vision_tower");
  config.mm_hidden_size = reader.positive("mm_hidden_size");
  config.mm_projector_type = reader.string("mm_projector_type");
  config.mm_video_pooling_stride = reader.positive("mm_video_pooling_stride", 1);
  config.mm_use_im_start_end = reader.boolean("mm_use_im_start_end", false);

  // The slow branch: the original builds it only from these keys, with these defaults.
  config.cross_attn_every_n_layers = reader.positive("cross_attn_every_n_layers");
  config.cross_attn_min_layer_depth = reader.integer("cross_attn_min_layer_depth", 0);
  config.cross_attn_max_layer_depth =
      reader.integer("cross_attn_max_layer_depth", config.num_hidden_layers);
  if (config.cross_attn_min_layer_depth < 0) {
    reader.fail("cross_attn_min_layer_depth", "must not be negative");
  }
  if (config.cross_attn_max_layer_depth < 0) {
    reader.fail("cross_attn_max_layer_depth", "must not be negative");
  }
  config.cross_attn_implementation = reader.string("cross_attn_implementation");
  config.cross_attn_gating_type = reader.string("cross_attn_gating_type");
  config.fast_token_spatial_stride = reader.positive("fast_token_spatial_stride");
  config.fast_token_temporal_stride = reader.positive("fast_token_temporal_stride");
  config.fast_token_temporal_sampling_stride =
      reader.positive("fast_token_temporal_sampling_stride");
  // The original falls back to 1 when the key is absent or null.
  config.min_fast_frames = reader.positive("min_fast_frames", 1);
  // Absent means no truncation in the original; the position limit is the effective bound.
  config.tokenizer_model_max_length =
      reader.positive("tokenizer_model_max_length", config.max_position_embeddings);

  config.vision = parse_vision_config(reader, root, config.mm_vision_tower, origin);
  validate(config, reader);
  return config;
}

Config load_config(const std::string& path) {
  return parse_config(read_text_file(path, "config"), path);
}

void merge_generation_config(Config& config, const std::string& path) {
  if (!std::filesystem::exists(path)) return;
  const json root = parse_object(read_text_file(path, "generation config"), path);
  const Reader reader(root, path);
  const std::vector<int64_t> eos = reader.ids("eos_token_id");
  check_token_ids(reader, "eos_token_id", eos, config.vocab_size);
  append_unique(config.eos_token_ids, eos);
}

}  // namespace slowfast
