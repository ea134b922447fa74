// Helpers shared by the language-model tests: a tiny hybrid configuration and random tensors.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "layers/random_init.h"
#include "text/qwen2.h"

namespace slowfast::test {

// Qwen2-shaped but tiny: 3 layers of which 0 and 2 are hybrid, 4 query heads sharing 2 kv heads.
inline Config tiny_text_config() {
  Config config;
  config.vocab_size = 40;
  config.hidden_size = 32;
  config.intermediate_size = 48;
  config.num_hidden_layers = 3;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.rms_norm_eps = 1e-6;
  config.rope_theta = 10000.0;
  config.cross_attn_every_n_layers = 2;
  config.cross_attn_min_layer_depth = 0;
  config.cross_attn_max_layer_depth = 3;
  config.cross_attn_implementation = "text-only-vanilla-flashattn";
  config.cross_attn_gating_type = "whole-dynamic-tanh-warmup";
  return config;
}

inline torch::Tensor random_tensor(std::vector<int64_t> shape, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape);
}

inline Qwen2Model random_model(const Config& config, uint64_t seed,
                               torch::ScalarType dtype = torch::kFloat32) {
  Qwen2Model model(config, torch::TensorOptions().dtype(dtype));
  init_random_parameters(*model, seed);
  return model;
}

// A prompt of `text_before` text tokens, `visual` visual tokens and `text_after` text tokens.
inline torch::Tensor prompt_token_types(int64_t text_before, int64_t visual, int64_t text_after) {
  torch::Tensor is_text = torch::ones({text_before + visual + text_after}, torch::kBool);
  is_text.narrow(0, text_before, visual).fill_(false);
  return is_text;
}

}  // namespace slowfast::test
