#include "text/qwen2.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <torch/torch.h>

#include "layers/bf16_gemv.h"
#include "layers/kernel_threads.h"
#include "slowfast.h"
#include "text/forward_pass.h"
#include "text/rope.h"

namespace slowfast {
namespace {

void check_config(const Config& config) {
  const auto fail = [](const std::string& problem) { throw Error("config.json: " + problem); };
  if (config.vocab_size <= 0 || config.hidden_size <= 0 || config.intermediate_size <= 0 ||
      config.num_hidden_layers <= 0 || config.num_attention_heads <= 0 ||
      config.num_key_value_heads <= 0) {
    fail(
        "vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and "
        "num_key_value_heads must be positive");
  }
  if (config.hidden_size % config.num_attention_heads != 0 || config.head_dim() % 2 != 0) {
    fail("hidden_size " + std::to_string(config.hidden_size) + " must split into " +
         std::to_string(config.num_attention_heads) + " heads of even size");
  }
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    fail("num_attention_heads " + std::to_string(config.num_attention_heads) +
         " is not a multiple of num_key_value_heads " + std::to_string(config.num_key_value_heads));
  }
}

}  // namespace

Qwen2ModelImpl::Qwen2ModelImpl(const Config& config, const torch::TensorOptions& options)
    : config_(config) {
  check_config(config_);
  embed_tokens =
      register_module("embed_tokens", Embedding(config_.vocab_size, config_.hidden_size, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t index = 0; index < config_.num_hidden_layers; ++index) {
    decoder_layers_.push_back(DecoderLayer(config_, index, options));
    layers->push_back(decoder_layers_.back());
    has_hybrid_layers_ = has_hybrid_layers_ || config_.is_hybrid_layer(index);
  }
  norm = register_module("norm", RMSNorm(config_.hidden_size, config_.rms_norm_eps, options));
  if (has_hybrid_layers_) {
    cross_scope_ = parse_cross_attention_implementation(config_.cross_attn_implementation);
  }
}

KVCacheShape Qwen2ModelImpl::cache_shape() const {
  return {config_.num_hidden_layers, config_.num_key_value_heads, config_.head_dim()};
}

torch::TensorOptions Qwen2ModelImpl::weight_options() const {
  return embed_tokens->weight.options();
}

torch::Tensor Qwen2ModelImpl::embed(const torch::Tensor& ids) {
  return embed_tokens->forward(ids);
}

torch::Tensor Qwen2ModelImpl::forward(const torch::Tensor& inputs_embeds,
                                      const torch::Tensor& is_text, const torch::Tensor& memory,
                                      KVCache& cache) {
  const int64_t hidden_size = config_.hidden_size;
  if (inputs_embeds.dim() != 2 || inputs_embeds.size(1) != hidden_size ||
      inputs_embeds.size(0) == 0) {
    throw Error("language model: inputs_embeds must be [L > 0, " + std::to_string(hidden_size) +
                "], got " + c10::str(inputs_embeds.sizes()));
  }
  const torch::TensorOptions options = weight_options();
  const int64_t length = inputs_embeds.size(0);

  ForwardPass pass;
  pass.start = cache.length();
  cache.reserve(cache_shape(), pass.start + length, options);
  pass.rope = rope_tables(pass.start, length, config_.head_dim(), config_.rope_theta,
                          options.dtype().toScalarType(), options.device());

  if (memory.defined() && has_hybrid_layers_) {
    if (memory.dim() != 2 || memory.size(1) != hidden_size || memory.size(0) == 0) {
      throw Error("language model: cross-attention memory must be [M > 0, " +
                  std::to_string(hidden_size) + "], got " + c10::str(memory.sizes()));
    }
    if (!is_text.defined() || is_text.dim() != 1 || is_text.size(0) != length) {
      throw Error("language model: token types must be [" + std::to_string(length) +
                  "] (one per input embedding) when memory is given");
    }
    // Row selection is host work (nonzero and a first index): one read-back, then one upload.
    const torch::Tensor rows =
        cross_attention_rows(is_text.to(torch::kCPU, torch::kBool), cross_scope_);
    if (rows.defined() && rows.numel() > 0) {
      pass.memory = memory.to(options);
      pass.cross_rows = rows.to(options.device());
    }
  }

  torch::Tensor hidden = inputs_embeds.to(options);
  for (auto& layer : decoder_layers_) {
    pass_loop_gate();  // a prefill's layers are oneDNN's loops, not the kernels' own
    hidden = layer->forward(hidden, pass, cache);
  }
  cache.advance(length);
  return norm->forward(hidden);
}

torch::Tensor Qwen2ModelImpl::forward_batch(const torch::Tensor& inputs_embeds,
                                            const std::vector<KVCache*>& caches) {
  const int64_t batch = static_cast<int64_t>(caches.size());
  if (inputs_embeds.dim() != 2 || inputs_embeds.size(0) != batch ||
      inputs_embeds.size(1) != config_.hidden_size || batch == 0) {
    throw Error("language model: a batched step needs inputs_embeds [" + std::to_string(batch) +
                ", " + std::to_string(config_.hidden_size) + "] (one row per cache), got " +
                c10::str(inputs_embeds.sizes()));
  }
  if (batch == 1) return forward(inputs_embeds, {}, {}, *caches.front());
  const torch::TensorOptions options = weight_options();
  // Each row's tables exactly as forward() computes them for one token, stacked [B, D].
  std::vector<torch::Tensor> cos(batch), sin(batch);
  for (int64_t row = 0; row < batch; ++row) {
    KVCache& cache = *caches[row];
    cache.reserve(cache_shape(), cache.length() + 1, options);
    const RopeTables tables = rope_tables(cache.length(), 1, config_.head_dim(), config_.rope_theta,
                                          options.dtype().toScalarType(), options.device());
    cos[row] = tables.cos;
    sin[row] = tables.sin;
  }
  const RopeTables rope{torch::cat(cos), torch::cat(sin)};
  torch::Tensor hidden = inputs_embeds.to(options);
  for (auto& layer : decoder_layers_) hidden = layer->forward_batch(hidden, rope, caches);
  for (KVCache* cache : caches) cache->advance(1);
  return norm->forward(hidden);
}

torch::Tensor logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight) {
  if (hidden.dim() != 2 || lm_head_weight.dim() != 2 || hidden.size(1) != lm_head_weight.size(1)) {
    throw Error("lm_head: hidden " + c10::str(hidden.sizes()) + " does not match weight " +
                c10::str(lm_head_weight.sizes()));
  }
  const torch::Tensor input = hidden.to(lm_head_weight.options());
  // A few bf16 rows (every decode step, one row per sequence, and the prefill's last position):
  // the kernel accumulates in float32 and its result is kept in float32, so no logit is rounded
  // and none needs refining.
  if (bf16_gemv_applies(input, lm_head_weight)) return bf16_gemv(input, lm_head_weight, {});
  torch::Tensor out = torch::nn::functional::linear(input, lm_head_weight).to(torch::kFloat32);
  if (lm_head_weight.scalar_type() != torch::kFloat32)
    refine_top_logits(hidden, lm_head_weight, out);
  return out;
}

void refine_top_logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                       torch::Tensor& logits) {
  // A bf16 product rounds every logit to 8 significant bits (steps of 1/32 near 4.0), so close
  // candidates tie and greedy decoding would choose among them by index. The logits within a few
  // rounding steps of each row's maximum are recomputed in float32 from the same weights.
  constexpr int64_t kMaxCandidates = 256;
  constexpr double kBandSteps = 3.0;
  if (!logits.is_cpu()) {
    // The same band without reading anything back (nonzero() and item() would synchronise every
    // decode step): the kMaxCandidates largest logits are recomputed, and only those inside the
    // band take the exact value.
    const int64_t count = std::min<int64_t>(kMaxCandidates, logits.size(1));
    for (int64_t row = 0; row < logits.size(0); ++row) {
      torch::Tensor values = logits[row];
      const auto [largest, candidates] = values.topk(count);  // [count], descending
      const torch::Tensor top = largest.narrow(0, 0, 1).to(torch::kFloat64);
      const torch::Tensor step =
          torch::exp2(torch::floor(torch::log2(top.abs().clamp_min(1e-30))) - 7);  // as ilogb
      const torch::Tensor in_band = largest.to(torch::kFloat64) >= top - kBandSteps * step;
      const torch::Tensor rows = lm_head_weight.index_select(0, candidates).to(torch::kFloat32);
      const torch::Tensor exact = rows.matmul(hidden[row].to(rows.options()));
      values.scatter_(0, candidates, torch::where(in_band, exact, largest));
    }
    return;
  }
  for (int64_t row = 0; row < logits.size(0); ++row) {
    torch::Tensor values = logits[row];
    const double top = values.max().item<double>();
    const double step = std::ldexp(1.0, std::ilogb(std::max(std::abs(top), 1e-30)) - 7);
    torch::Tensor candidates = (values >= top - kBandSteps * step).nonzero().squeeze(1);
    if (candidates.size(0) > kMaxCandidates) {
      candidates = std::get<1>(values.topk(kMaxCandidates));
    }
    const torch::Tensor rows = lm_head_weight.index_select(0, candidates).to(torch::kFloat32);
    const torch::Tensor exact = rows.matmul(hidden[row].to(rows.options()));
    values.index_put_({candidates.to(values.device())}, exact.to(values.device()));
  }
}

}  // namespace slowfast
