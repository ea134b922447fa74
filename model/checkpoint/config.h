// config.json -> one typed struct. All defaults of ../shared/spec/model.md live in config.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slowfast {

struct VisionConfig {
  std::vector<int64_t> depths;  // ConvNeXt blocks per stage
  std::vector<int64_t> dims;    // channels per stage; dims.back() == mm_hidden_size
  int64_t image_size = 0;       // square input after preprocessing
  double norm_eps = 1e-5;
  // Derived: side of the last stage's feature grid (image_size / 32).
  int64_t grid_size() const { return image_size / 32; }
};

struct Config {
  // Qwen2
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 32768;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;  // config eos plus generation_config.json eos ids

  // Multimodal
  std::string mm_vision_tower;
  int64_t mm_hidden_size = 0;
  std::string mm_projector_type;
  int64_t mm_video_pooling_stride = 2;
  bool mm_use_im_start_end = false;
  int64_t cross_attn_every_n_layers = 0;
  int64_t cross_attn_min_layer_depth = 0;
  int64_t cross_attn_max_layer_depth = 0;  // num_hidden_layers when absent or null
  std::string cross_attn_implementation;
  std::string cross_attn_gating_type;
  int64_t fast_token_spatial_stride = 1;
  int64_t fast_token_temporal_stride = 4;
  int64_t fast_token_temporal_sampling_stride = 1;
  int64_t min_fast_frames = 16;               // 1 when absent or null, as in the original
  int64_t tokenizer_model_max_length = 4096;  // max_position_embeddings when absent
  std::string torch_dtype = "bfloat16";

  VisionConfig vision;

  // Derived
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool is_hybrid_layer(int64_t layer) const;
  std::vector<int64_t> hybrid_layers() const;
};

// Parses and validates `path` (config.json). Throws slowfast::Error naming the file and the key.
Config load_config(const std::string& path);
// Same, from JSON text; `origin` names the source in error messages.
Config parse_config(const std::string& json_text, const std::string& origin);
// Reads eos ids of generation_config.json into `config` when the file exists.
void merge_generation_config(Config& config, const std::string& path);

}  // namespace slowfast
