#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <regex>

#include <torch/torch.h>

#include "chat_template.h"
#include "config.h"
#include "safetensors.h"
#include "slowfast_model.h"
#include "tokenizer.h"
#include "train/demo_tokenizer.h"
#include "train/tasks.h"
#include "train/testsrc.h"
#include "vision/pooling.h"
#include "vision/preprocess.h"

namespace slowfast::demo {
namespace fs = std::filesystem;

nlohmann::json demo_config(int64_t vocab_size, int64_t endoftext_id, int64_t im_end_id) {
  return {
      {"architectures", {"LlavaQwenSlowFastForCausalLM"}},
      {"model_type", "llava_qwen_slow_fast"},
      {"_name_or_path", "slowfast-demo"},
      {"torch_dtype", "float32"},
      {"vocab_size", vocab_size},
      {"hidden_size", 128},
      {"intermediate_size", 384},
      {"num_hidden_layers", 4},
      {"num_attention_heads", 4},
      {"num_key_value_heads", 2},
      {"hidden_act", "silu"},
      {"max_position_embeddings", 4096},
      {"rms_norm_eps", 1e-6},
      {"rope_theta", 10000.0},
      {"rope_scaling", nullptr},
      {"tie_word_embeddings", false},
      {"use_sliding_window", false},
      {"bos_token_id", endoftext_id},
      {"eos_token_id", im_end_id},
      {"mm_vision_tower", "convnext-demo"},
      {"mm_hidden_size", 128},
      {"mm_projector_type", "mlp2x_gelu"},
      {"mm_vision_select_layer", -2},
      {"mm_vision_select_feature", "patch"},
      {"mm_patch_merge_type", "flat"},
      {"mm_use_im_start_end", false},
      {"mm_use_im_patch_token", false},
      {"image_aspect_ratio", "pad"},
      {"tokenizer_model_max_length", 2048},
      {"tokenizer_padding_side", "right"},
      // 64 px frames -> a 2 x 2 grid of tokens per frame, kept as they are: 256 slow tokens per
      // 64-frame window. The fast tokens average runs of 8 frames: 32 fast tokens that show
      // where things move, but a dot that jumps from frame to frame is smeared over them.
      {"mm_video_pooling_stride", 1},
      {"fast_token_spatial_stride", 1},
      {"fast_token_temporal_stride", 8},
      {"fast_token_temporal_sampling_stride", 1},
      {"min_fast_frames", 8},
      {"cross_attn_every_n_layers", 2},
      {"cross_attn_implementation", "text-only-vanilla-flashattn"},
      {"cross_attn_gating_type", "whole-dynamic-tanh-warmup"},
      {"cross_attn_min_layer_depth", 1},
      {"cross_attn_max_layer_depth", 4},
      {"tile_image_input", false},
      {"vision_config",
       {{"depths", {1, 1, 2, 1}}, {"dims", {16, 32, 64, 128}}, {"image_size", 64},
        {"norm_eps", 1e-6}}},
  };
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void write_json(const fs::path& path, const nlohmann::json& json) {
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) throw Error("cannot write " + path.string());
}

// Initialisation for training from scratch, by checkpoint name: matrices and convolutions
// N(0, 0.02), biases 0, norm weights 1, ConvNeXt layer scales 0.1 (a shallow tower), warm-up
// gates 1 so the cross-attention learns from the first step.
void init_for_training(torch::nn::Module& net, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  static const std::regex layer_scale(R"(blocks\.\d+\.weight$)");
  for (auto& item : net.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    if (name.find("warm_up_gate") != std::string::npos) {
      p.fill_(1.0);
    } else if (std::regex_search(name, layer_scale)) {
      p.fill_(0.1);
    } else if (p.dim() >= 2) {
      p.normal_(0, 0.02);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      p.zero_();
    } else {
      p.fill_(1.0);  // RMSNorm / LayerNorm weights
    }
    p.set_requires_grad(true);
  }
}

struct Clip {
  Scene scene;
  torch::Tensor pixels;  // [T, 3, S, S]
};

Clip make_clip(const Scene& scene, int64_t image_size) {
  std::vector<uint8_t> frames = render_scene(scene);
  const torch::Tensor rgb = torch::from_blob(frames.data(),
                                             {scene.frames, scene.height, scene.width, 3},
                                             torch::kUInt8);
  return {scene, preprocess_frames(rgb, image_size)};
}

// Every (T / count)-th frame from a random phase: [T, 3, S, S] -> [count, 3, S, S]
torch::Tensor subsample(const torch::Tensor& pixels, int count, std::mt19937_64& rng) {
  const int64_t total = pixels.size(0);
  if (count <= 0 || count >= total) return pixels;
  const int64_t stride = total / count;
  const int64_t phase = std::uniform_int_distribution<int64_t>(0, stride - 1)(rng);
  return pixels.index_select(0, torch::arange(phase, phase + stride * count, stride));
}

struct Batch {
  torch::Tensor loss;
  double common_share = 0;
  std::map<QuestionKind, std::pair<int, int>> correct;  // kind -> (right, asked), teacher forced
};

class Trainer {
 public:
  Trainer(const TrainOptions& options, const Config& config,
          std::shared_ptr<const Tokenizer> tokenizer)
      : options_(options), config_(config), tokenizer_(std::move(tokenizer)),
        net_(config, torch::TensorOptions().dtype(torch::kFloat32)), rng_(options.seed) {
    init_for_training(*net_, options.seed);
    im_end_ = tokenizer_->id_of("<|im_end|>");
  }

  SlowFastForCausalLM& net() { return net_; }

  void prerender_patterns() {
    const auto start = Clock::now();
    uint64_t seed = options_.seed * 1'000'003;
    for (Pattern pattern : kPatterns) {
      for (int i = 0; i < options_.patterns_pool; ++i) {
        Scene scene = random_scene(seed++, 1.0);
        scene.pattern.pattern = pattern;
        patterns_.push_back(make_clip(scene, config_.vision.image_size));
      }
    }
    std::cout << "rendered " << patterns_.size() << " videotestsrc clips in " << std::fixed
              << std::setprecision(1) << seconds_since(start) << " s" << std::endl;
  }

  double data_seconds = 0, vision_seconds = 0;

  Batch step_loss(int frames_per_clip) {
    const auto step_start = Clock::now();
    std::vector<Clip> clips;
    std::uniform_real_distribution<double> unit(0, 1);
    for (int i = 0; i < options_.clips_per_step; ++i) {
      if (unit(rng_) < options_.pattern_share && !patterns_.empty()) {
        clips.push_back(patterns_[std::uniform_int_distribution<size_t>(
            0, patterns_.size() - 1)(rng_)]);
      } else {
        Scene scene = random_scene(next_seed_++, 0.0);
        clips.push_back(make_clip(scene, config_.vision.image_size));
      }
    }
    std::vector<torch::Tensor> pixels;
    for (const auto& clip : clips) pixels.push_back(subsample(clip.pixels, frames_per_clip, rng_));
    const auto vision_start = Clock::now();
    // All frames of the batch through the vision tower at once: [B*T, 3, S, S] -> [B*T, N, H]
    const torch::Tensor features = net_->model->encode_images(torch::cat(pixels));
    data_seconds += std::chrono::duration<double>(vision_start - step_start).count();
    vision_seconds += seconds_since(vision_start);

    Batch batch;
    std::vector<torch::Tensor> losses;
    int64_t offset = 0;
    for (const auto& clip : clips) {
      const int64_t frames = features.size(0) / static_cast<int64_t>(clips.size());
      const torch::Tensor pooled =
          spatial_pool(features.narrow(0, offset, frames), config_.mm_video_pooling_stride);
      offset += frames;
      const SlowFastTokens tokens = split_slow_fast(pooled, config_);
      for (const Question& question : questions_for(clip.scene, rng_, /*vary_prompts=*/true)) {
        torch::Tensor fast = tokens.fast;
        if (question.kind == QuestionKind::Detail && unit(rng_) < options_.detail_fast_dropout) {
          fast = torch::zeros_like(fast);
        }
        auto [loss, right] = question_loss(question, fast, tokens.slow);
        losses.push_back(loss);
        auto& tally = batch.correct[question.kind];
        tally.first += right ? 1 : 0;
        tally.second += 1;
      }
    }
    // Share of the visual tokens' energy in their common mean: a vision tower that starts out
    // averaging mostly background gives every frame nearly the same token (a red and a green
    // shape differ by ~10%), and the language model's RMSNorm then sees almost no difference.
    // Penalising the common part keeps what differs between frames in view.
    const torch::Tensor common = features.mean(std::vector<int64_t>{0, 1}).pow(2).mean() /
                                 features.pow(2).mean().clamp_min(1e-12);
    batch.common_share = common.item<double>();
    batch.loss = torch::stack(losses).mean() + options_.common_mode_penalty * common;
    return batch;
  }

  void save(const fs::path& dir, const nlohmann::json& config_json,
            const nlohmann::json& tokenizer_json) {
    fs::create_directories(dir);
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& item : net_->named_parameters()) {
      tensors[item.key()] = item.value().detach().contiguous().clone();
    }
    save_safetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
    write_json(dir / "config.json", config_json);
    write_json(dir / "tokenizer.json", tokenizer_json);
    write_json(dir / "tokenizer_config.json", tokenizer_config(tokenizer_json));
    write_json(dir / "generation_config.json",
               {{"bos_token_id", config_json.at("bos_token_id")},
                {"eos_token_id", {im_end_, config_json.at("bos_token_id")}},
                {"pad_token_id", config_json.at("bos_token_id")}});
  }

 private:
  // Teacher-forced loss of one answer (then <|im_end|>) after the prompt; `right` when every
  // answer token is the argmax.
  std::pair<torch::Tensor, bool> question_loss(const Question& question,
                                               const torch::Tensor& fast,
                                               const torch::Tensor& slow) {
    const std::vector<int64_t> ids = tokenize_with_image(*tokenizer_, qwen_1_5_prompt(question.prompt));
    const auto image = std::find(ids.begin(), ids.end(), kImageTokenIndex);
    const std::vector<int64_t> before(ids.begin(), image), after(image + 1, ids.end());
    std::vector<int64_t> answer = tokenizer_->encode(question.answer);
    answer.push_back(im_end_);
    const std::vector<int64_t> answer_inputs(answer.begin(), answer.end() - 1);

    auto& backbone = *net_->model;
    std::vector<torch::Tensor> parts = {backbone.embed(torch::tensor(before)), fast,
                                        backbone.embed(torch::tensor(after))};
    if (!answer_inputs.empty()) parts.push_back(backbone.embed(torch::tensor(answer_inputs)));
    const torch::Tensor embeds = torch::cat(parts);
    torch::Tensor is_text = torch::ones({embeds.size(0)}, torch::kBool);
    is_text.narrow(0, static_cast<int64_t>(before.size()), fast.size(0)).fill_(false);

    KVCache cache;
    const torch::Tensor hidden = backbone.forward(embeds, is_text, slow, cache);  // [L, H]
    const int64_t prompt_length = static_cast<int64_t>(before.size() + after.size()) + fast.size(0);
    const int64_t count = static_cast<int64_t>(answer.size());
    const torch::Tensor logits =
        net_->lm_head->forward(hidden.narrow(0, prompt_length - 1, count));  // [n, V]
    const torch::Tensor targets = torch::tensor(answer);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, targets);
    const bool right = logits.argmax(-1).eq(targets).all().item<bool>();
    return {loss, right};
  }

  TrainOptions options_;
  Config config_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  SlowFastForCausalLM net_;
  std::mt19937_64 rng_;
  int64_t im_end_ = 0;
  uint64_t next_seed_ = 0;
  std::vector<Clip> patterns_;
};

// Every prompt the model sees, whole, so the tokenizer also learns the system prompt's words.
std::vector<std::string> tokenizer_texts() {
  std::vector<std::string> texts;
  for (const std::string& text : template_corpus()) {
    std::string prompt = qwen_1_5_prompt(text);
    const auto image = prompt.find(kImageToken);
    if (image != std::string::npos) prompt.erase(image, kImageToken.size());
    texts.push_back(prompt);
    texts.push_back(text);
  }
  return texts;
}

}  // namespace

TrainResult train(const TrainOptions& options) {
  if (options.out_dir.empty()) throw Error("train: --out DIR is required");
  if (options.steps <= 0 || options.clips_per_step <= 0) {
    throw Error("train: --steps and --clips-per-step must be positive");
  }
  torch::set_num_threads(options.threads);
  const fs::path out(options.out_dir);
  fs::create_directories(out);
  const auto start = Clock::now();

  // Tokenizer first: its size is the config's vocabulary.
  const nlohmann::json tokenizer_json = train_tokenizer(tokenizer_texts(), 2000);
  write_json(out / "tokenizer.json", tokenizer_json);
  write_json(out / "tokenizer_config.json", tokenizer_config(tokenizer_json));
  const auto tokenizer = Tokenizer::load(out.string());
  const nlohmann::json config_json = demo_config(tokenizer->size(), tokenizer->id_of("<|endoftext|>"),
                                                 tokenizer->id_of("<|im_end|>"));
  const Config config = parse_config(config_json.dump(), "demo config");
  std::cout << "tokenizer: " << tokenizer->size() << " tokens" << std::endl;

  Trainer trainer(options, config, tokenizer);
  int64_t parameters = 0;
  for (const auto& p : trainer.net()->parameters()) parameters += p.numel();
  std::cout << "model: " << parameters << " parameters" << std::endl;
  trainer.prerender_patterns();

  // Two groups: the vision tower and projector learn faster. At the start their features of a
  // red and a green shape differ by ~10% (mostly background), so the language model gets little
  // signal until the vision side sharpens; a higher rate there shortens that plateau.
  std::vector<torch::Tensor> vision_parameters, language_parameters;
  for (const auto& item : trainer.net()->named_parameters()) {
    const bool vision = item.key().rfind("model.vision_tower", 0) == 0 ||
                        item.key().rfind("model.mm_projector", 0) == 0;
    (vision ? vision_parameters : language_parameters).push_back(item.value());
  }
  const auto adamw = [&](double rate) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(rate).betas({0.9, 0.98}).weight_decay(0.01));
  };
  const std::vector<double> base_rates = {options.learning_rate * options.vision_lr_scale,
                                          options.learning_rate};
  torch::optim::AdamW optimizer(
      {torch::optim::OptimizerParamGroup(vision_parameters, adamw(base_rates[0])),
       torch::optim::OptimizerParamGroup(language_parameters, adamw(base_rates[1]))},
      torch::optim::AdamWOptions(options.learning_rate));
  const int64_t warmup = std::min<int64_t>(50, options.steps / 10);
  std::map<QuestionKind, std::pair<int, int>> window;
  TrainResult result;
  double loss_sum = 0, forward_seconds = 0, backward_seconds = 0;
  for (int64_t step = 1; step <= options.steps; ++step) {
    // Linear warm-up, then cosine decay to 5%.
    const double progress = static_cast<double>(step - warmup) / std::max<int64_t>(1, options.steps - warmup);
    const double scale = step <= warmup ? static_cast<double>(step) / warmup
                                        : 0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * progress));
    for (size_t group = 0; group < optimizer.param_groups().size(); ++group) {
      static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[group].options())
          .lr(base_rates[group] * scale);
    }
    optimizer.zero_grad();
    const auto forward_start = Clock::now();
    const bool full_window = options.full_window_every > 0 && step % options.full_window_every == 0;
    Batch batch = trainer.step_loss(full_window ? kClipFrames : options.train_frames);
    forward_seconds += seconds_since(forward_start);
    const auto backward_start = Clock::now();
    batch.loss.backward();
    backward_seconds += seconds_since(backward_start);
    if (step % options.log_every == 0) {
      std::cout << "  gradient norms:";
      for (const char* part : {"model.vision_tower", "model.mm_projector", "model.layers", "lm_head"}) {
        double squares = 0;
        for (const auto& item : trainer.net()->named_parameters()) {
          if (item.key().rfind(part, 0) == 0 && item.value().grad().defined()) {
            squares += item.value().grad().pow(2).sum().item<double>();
          }
        }
        std::cout << " " << part << " " << std::sqrt(squares);
      }
      std::cout << std::endl;
    }
    torch::nn::utils::clip_grad_norm_(trainer.net()->parameters(), 1.0);
    optimizer.step();

    loss_sum += batch.loss.item<double>();
    for (const auto& [kind, tally] : batch.correct) {
      window[kind].first += tally.first;
      window[kind].second += tally.second;
    }
    if (step % options.log_every == 0 || step == options.steps) {
      const double mean_loss = loss_sum / ((step - 1) % options.log_every + 1);
      if (result.first_loss == 0) result.first_loss = mean_loss;
      result.last_loss = mean_loss;
      std::cout << "step " << step << "/" << options.steps  << "  loss " << std::setprecision(4)
                << mean_loss << "  teacher-forced exact:";
      for (const auto& [kind, tally] : window) {
        std::cout << " " << kind_name(kind) << " " << tally.first << "/" << tally.second;
      }
      std::cout << "  common " << std::setprecision(3) << batch.common_share;
      std::cout << "  " << std::setprecision(1) << std::fixed << "(per step: data "
                << trainer.data_seconds / options.log_every << " s, vision "
                << trainer.vision_seconds / options.log_every << " s, forward "
                << forward_seconds / options.log_every << " s, backward "
                << backward_seconds / options.log_every << " s)  " << std::setprecision(0)
                << seconds_since(start) << " s" << std::defaultfloat << std::endl;
      window.clear();
      loss_sum = forward_seconds = backward_seconds = 0;
      trainer.data_seconds = trainer.vision_seconds = 0;
    }
    if (step % 200 == 0 || step == options.steps) {
      trainer.save(out, config_json, tokenizer_json);
    }
  }
  write_json(out / "training.json",
             {{"steps", options.steps},
              {"clips_per_step", options.clips_per_step},
              {"learning_rate", options.learning_rate},
              {"vision_lr_scale", options.vision_lr_scale},
              {"common_mode_penalty", options.common_mode_penalty},
              {"seed", options.seed},
              {"threads", options.threads},
              {"pattern_share", options.pattern_share},
              {"detail_fast_dropout", options.detail_fast_dropout},
              {"train_frames", options.train_frames},
              {"full_window_every", options.full_window_every},
              {"seconds", seconds_since(start)}});
  result.seconds = seconds_since(start);
  std::cout << "wrote " << out.string() << " in " << result.seconds << " s" << std::endl;
  return result;
}

}  // namespace slowfast::demo
