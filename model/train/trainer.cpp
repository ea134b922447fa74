#include "train/trainer.h"

#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <regex>
#include <thread>

#include <dlfcn.h>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "checkpoint/safetensors.h"
#include "prompt.h"
#include "slowfast_model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "train/demo_tokenizer.h"
#include "train/tasks.h"
#include "train/testsrc.h"
#include "util/clock.h"
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
       {{"depths", {1, 1, 2, 1}},
        {"dims", {16, 32, 64, 128}},
        {"image_size", 64},
        {"norm_eps", 1e-6}}},
  };
}

std::vector<Question> training_questions(const Scene& scene, std::mt19937_64& rng,
                                         const TrainOptions& options) {
  std::vector<Question> questions = questions_for(
      scene, rng, /*vary_prompts=*/true, options.yes_no_near_miss, options.yes_no_own_share);
  for (int extra = 1; extra < options.yes_no_per_clip; ++extra) {
    for (Question& question :
         questions_for(scene, rng, true, options.yes_no_near_miss, options.yes_no_own_share)) {
      if (question.kind == QuestionKind::YesNo) questions.push_back(std::move(question));
    }
  }
  return questions;
}

double curriculum_dot_size(double drawn, int64_t step, int64_t curriculum_steps) {
  if (curriculum_steps <= 0 || step >= curriculum_steps) return drawn;
  const double done = static_cast<double>(std::max<int64_t>(0, step)) / curriculum_steps;
  return kCurriculumDotSize + (drawn - kCurriculumDotSize) * done;
}

TeacherForced teacher_forced(SlowFastForCausalLM& net, const std::vector<int64_t>& prompt_ids,
                             const torch::Tensor& fast, const std::vector<int64_t>& answer_inputs,
                             const torch::Tensor& slow) {
  auto& backbone = *net->model;
  // The answer's rows do not attend to the slow tokens: generation feeds them in decode steps,
  // which have no cross-attention (spec section 7), and a model that learned to read the video
  // there would not find it when it generates.
  const Prompt prompt = embed_prompt(backbone, prompt_ids, fast, answer_inputs);
  const int64_t prompt_length = static_cast<int64_t>(prompt_ids.size()) - 1 + fast.size(0);

  KVCache cache;
  const torch::Tensor hidden =
      backbone.forward(prompt.embeds, prompt.is_text, slow, cache);  // [L, H]
  const int64_t count = static_cast<int64_t>(answer_inputs.size()) + 1;
  return {net->lm_head->forward(hidden.narrow(0, prompt_length - 1, count)),  // [n, V]
          hidden.narrow(0, prompt_length - 1, 1)};
}

namespace {

// OpenBLAS's pthread build (Debian's libtorch runs on it) hands every product to its own thread
// pool, which takes calls from one thread at a time: two threads of questions would wait on
// each other, and the step took 1.5x longer than on one thread. With one BLAS thread each call
// runs on its caller. Other BLAS libraries lack the symbol and are left alone.
void single_threaded_blas() {
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(1);
  }
}

// work(0) .. work(n - 1), the first on this thread and each other one on a thread of its own. An
// exception thrown by any of them is rethrown here once all have ended.
void run_on_threads(size_t n, const std::function<void(size_t)>& work) {
  std::vector<std::exception_ptr> errors(n);
  // OpenMP's thread count is per thread: a new thread would start its own team of one per core.
  const int intra_op_threads = torch::get_num_threads();
  const auto guarded = [&](size_t w) {
    try {
      torch::set_num_threads(intra_op_threads);
      work(w);
    } catch (...) {
      errors[w] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < n; ++w) threads.emplace_back(guarded, w);
  guarded(0);
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

void write_json(const fs::path& path, const nlohmann::json& json) {
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) throw Error("cannot write " + path.string());
}

// Initialisation for training from scratch, by checkpoint name: language-model matrices
// N(0, 0.02), vision tower and projector matrices and convolutions N(0, 1/fan_in), biases 0,
// norm weights and ConvNeXt layer scales 1, warm-up gates 1 so the cross-attention learns from
// the first step.
void init_for_training(torch::nn::Module& net, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  static const std::regex layer_scale(R"(blocks\.\d+\.weight$)");
  for (auto& item : net.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    const bool vision =
        name.rfind("model.vision_tower", 0) == 0 || name.rfind("model.mm_projector", 0) == 0;
    if (name.find("warm_up_gate") != std::string::npos) {
      p.fill_(1.0);
    } else if (vision && std::regex_search(name, layer_scale)) {
      p.fill_(1.0);
    } else if (vision && p.dim() >= 2) {
      // The vision side is narrow (16-128 channels): N(0, 0.02) would leave it nearly linear
      // and slow to learn colours; 1/sqrt(fan_in) keeps each layer's signal at unit scale.
      p.normal_(0, 1.0 / std::sqrt(static_cast<double>(p[0].numel())));
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

// Copies every parameter from a checkpoint (copies, not mapped views: training writes them).
void load_for_training(torch::nn::Module& net, const std::string& dir) {
  torch::NoGradGuard no_grad;
  const Checkpoint checkpoint = Checkpoint::open(dir);
  for (auto& item : net.named_parameters()) {
    if (!checkpoint.contains(item.key())) {
      throw Error("--init " + dir + ": tensor " + item.key() + " is missing");
    }
    const torch::Tensor stored = checkpoint.get(item.key(), torch::kFloat32);
    if (stored.sizes() != item.value().sizes()) {
      throw Error("--init " + dir + ": tensor " + item.key() + " has shape " +
                  c10::str(stored.sizes()) + ", the demo config needs " +
                  c10::str(item.value().sizes()));
    }
    item.value().copy_(stored);
  }
}

struct Clip {
  Scene scene;
  torch::Tensor pixels;  // [T, 3, S, S]
};

Clip make_clip(const Scene& scene, int64_t image_size) {
  std::vector<uint8_t> frames = render_scene(scene);
  const torch::Tensor rgb =
      torch::from_blob(frames.data(), {scene.frames, scene.height, scene.width, 3}, torch::kUInt8);
  return {scene, preprocess_frames(rgb, image_size)};
}

// Indices of every (T / count)-th frame of T from a random phase (all T when count >= T).
torch::Tensor subsample(int64_t total, int count, std::mt19937_64& rng) {
  if (count <= 0 || count >= total) return torch::arange(total);
  const int64_t stride = total / count;
  const int64_t phase = std::uniform_int_distribution<int64_t>(0, stride - 1)(rng);
  return torch::arange(phase, phase + stride * count, stride);
}

// Index of a videotestsrc pattern in kPatterns: its class in the pattern heads.
int64_t pattern_class(Pattern pattern) {
  return static_cast<int64_t>(std::find(kPatterns.begin(), kPatterns.end(), pattern) -
                              kPatterns.begin());
}

// Per-frame targets of the auxiliary heads; -100 where a target does not apply.
constexpr int64_t kIgnore = -100;
constexpr int64_t kColourClasses = kColours.size() + 1;    // + "no shape"
constexpr int64_t kShapeClasses = kShapeNames.size() + 1;  // + "no shape"
constexpr int64_t kDotClasses = kColours.size();
constexpr int64_t kPatternClasses = kPatterns.size() + 1;  // + "shapes"
constexpr int64_t kAuxOutputs = kColourClasses + kShapeClasses + kDotClasses + kPatternClasses + 2;

struct FrameTargets {
  std::vector<int64_t> colour, shape, dot, pattern;
  std::vector<float> centre;  // x, y in [-1, 1] per frame (0 where the shape is hidden)
  std::vector<float> centre_weight;

  void add(const Scene& scene, int64_t frame) {
    if (scene.is_pattern) {
      colour.push_back(kIgnore), shape.push_back(kIgnore), dot.push_back(kIgnore);
      pattern.push_back(pattern_class(scene.pattern.pattern));
      centre.insert(centre.end(), {0, 0}), centre_weight.push_back(0);
      return;
    }
    const ShapeScene& s = scene.shape;
    const bool visible = scene.shape_visible(static_cast<int>(frame));
    colour.push_back(visible ? s.colour : kColourClasses - 1);
    shape.push_back(visible ? static_cast<int64_t>(s.shape) : kShapeClasses - 1);
    dot.push_back(s.dot_colour);
    pattern.push_back(kPatternClasses - 1);
    const auto [x, y] = s.centre(static_cast<int>(frame));
    centre.insert(centre.end(), {static_cast<float>(x / 64 - 1), static_cast<float>(y / 64 - 1)});
    centre_weight.push_back(visible ? 1 : 0);
  }
};

// Whole-clip targets of the language model's scene head (see TrainOptions::lm_aux_weight).
constexpr int64_t kDirectionClasses = kDirectionNames.size();
constexpr int64_t kEventClasses = 3;
constexpr int64_t kSceneOutputs = kDirectionClasses + kEventClasses + kColours.size() +
                                  kShapeNames.size() + kDotClasses + kPatternClasses;

struct SceneTargets {
  std::vector<int64_t> direction, event, colour, shape, dot, pattern;

  // temporal: whether the state could see the fast tokens, which alone carry the frame order
  // (a detail question may be asked with them zeroed); without them motion is not a target.
  void add(const Scene& scene, bool temporal) {
    if (scene.is_pattern) {
      for (auto* field : {&direction, &event, &colour, &shape, &dot}) field->push_back(kIgnore);
      pattern.push_back(pattern_class(scene.pattern.pattern));
      return;
    }
    const ShapeScene& s = scene.shape;
    // A stream window's shape may be out of view or in view too briefly to show its motion; the
    // head keeps the three events random_scene draws (its size is that of the committed runs).
    const int visible = scene.shape_visible_frames();
    const bool moves = temporal && visible >= kMinDescribedFrames;
    direction.push_back(moves ? static_cast<int64_t>(s.direction) : kIgnore);
    event.push_back(moves && static_cast<int64_t>(s.event) < kEventClasses
                        ? static_cast<int64_t>(s.event)
                        : kIgnore);
    colour.push_back(visible > 0 ? s.colour : kIgnore);
    shape.push_back(visible > 0 ? static_cast<int64_t>(s.shape) : kIgnore);
    dot.push_back(s.dot_colour);
    pattern.push_back(kPatternClasses - 1);
  }
};

// Cross-entropies of consecutive blocks of `logits` [n, sum of sizes] against label lists
// (kIgnore skipped; an all-ignored block gives 0). Adds each to `parts` for the log.
std::vector<torch::Tensor> block_cross_entropies(
    const torch::Tensor& logits,
    const std::vector<std::pair<int64_t, const std::vector<int64_t>*>>& blocks, double* parts) {
  namespace F = torch::nn::functional;
  std::vector<torch::Tensor> losses;
  int64_t at = 0;
  for (const auto& [size, labels] : blocks) {
    const torch::Tensor y = torch::tensor(*labels);
    torch::Tensor loss = torch::zeros({});
    if (y.ne(kIgnore).sum().item<int64_t>() > 0) {
      loss = F::cross_entropy(logits.narrow(1, at, size), y,
                              F::CrossEntropyFuncOptions().ignore_index(kIgnore));
    }
    *parts++ += loss.item<double>();
    losses.push_back(loss);
    at += size;
  }
  return losses;
}

struct Batch {
  torch::Tensor loss;
  torch::Tensor aux_loss;    // undefined when aux_weight is 0
  torch::Tensor scene_loss;  // undefined when lm_aux_weight is 0
  double common_share = 0;
  // loss's value (for the log): with the questions on threads, loss only carries their gradient
  double loss_value = 0;
  double backward_seconds = 0;                          // spent on backward passes inside the step
  std::map<QuestionKind, std::pair<int, int>> correct;  // kind -> (right, asked), teacher forced
};

class Trainer {
 public:
  Trainer(const TrainOptions& options, const Config& config,
          std::shared_ptr<const Tokenizer> tokenizer)
      : options_(options),
        config_(config),
        tokenizer_(std::move(tokenizer)),
        net_(config, torch::TensorOptions().dtype(torch::kFloat32)),
        rng_(options.seed) {
    init_for_training(*net_, options.seed);
    const int64_t tokens_per_frame =
        (config.vision.image_size / 32) * (config.vision.image_size / 32);
    aux_head_ = torch::nn::Linear(tokens_per_frame * config.hidden_size, kAuxOutputs);
    scene_head_ = torch::nn::Linear(config.hidden_size, kSceneOutputs);
    if (!options.init_from.empty()) load_for_training(*net_, options.init_from);
    im_end_ = tokenizer_->id_of("<|im_end|>");
  }

  SlowFastForCausalLM& net() { return net_; }
  std::vector<torch::Tensor> aux_parameters() { return aux_head_->parameters(); }
  std::vector<torch::Tensor> scene_head_parameters() { return scene_head_->parameters(); }

  void prerender_patterns() {
    const auto start = Clock::now();
    uint64_t seed = options_.seed * 1'000'003;
    for (Pattern pattern : kPatterns) {
      for (int i = 0; i < options_.patterns_pool; ++i) {
        Scene scene = random_scene(seed++, 1.0);
        scene.pattern.pattern = pattern;
        if (options_.pattern_sizes_in_turn) {
          const auto& size = kPatternFrameSizes[i % kPatternFrameSizes.size()];
          scene.width = size[0];
          scene.height = size[1];
        }
        patterns_.push_back(make_clip(scene, config_.vision.image_size));
      }
    }
    std::cout << "rendered " << patterns_.size() << " videotestsrc clips in " << std::fixed
              << std::setprecision(1) << seconds_since(start) << " s" << std::endl;
  }

  // The training step about to run (1-based), for the dot curriculum.
  int64_t step = 0;
  double data_seconds = 0, vision_seconds = 0;
  std::array<double, 5>
      aux_parts{};  // colour, shape, dot, pattern, centre: sums since the last log
  // direction, event, colour, shape, dot, pattern: sums since the last log
  std::array<double, 6> scene_parts{};

  // vision_only: the auxiliary per-frame loss alone (the vision warm-up), no questions.
  Batch step_loss(int frames_per_clip, bool vision_only) {
    const auto step_start = Clock::now();
    std::vector<Clip> clips;
    std::uniform_real_distribution<double> unit(0, 1);
    const int scene_frames = vision_only ? options_.aux_scenes : options_.aux_scenes_per_step;
    // A warm-up step with scene frames needs no whole clips.
    const int clip_count = vision_only && scene_frames > 0 ? 0 : options_.clips_per_step;
    for (int i = 0; i < clip_count; ++i) {
      if (unit(rng_) < options_.pattern_share && !patterns_.empty()) {
        clips.push_back(
            patterns_[std::uniform_int_distribution<size_t>(0, patterns_.size() - 1)(rng_)]);
      } else {
        clips.push_back(make_clip(training_scene(), config_.vision.image_size));
      }
    }
    std::vector<torch::Tensor> pixels;
    FrameTargets targets;
    for (const auto& clip : clips) {
      const torch::Tensor picked = subsample(clip.pixels.size(0), frames_per_clip, rng_);
      pixels.push_back(clip.pixels.index_select(0, picked));
      for (int64_t i = 0; i < picked.size(0); ++i)
        targets.add(clip.scene, picked[i].item<int64_t>());
    }
    int64_t clip_frames = 0;
    for (const auto& p : pixels) clip_frames += p.size(0);
    add_scene_frames(scene_frames, pixels, targets);
    const auto vision_start = Clock::now();
    // All frames of the batch through the vision tower at once: [F, 3, S, S] -> [F, N, H]
    const torch::Tensor features = net_->model->encode_images(torch::cat(pixels));
    data_seconds += std::chrono::duration<double>(vision_start - step_start).count();
    vision_seconds += seconds_since(vision_start);

    // The questions, drawn here in the order of the random draws whatever the thread count.
    std::vector<Task> tasks;
    SceneTargets scene_targets;
    const int64_t frames = clips.empty() ? 0 : clip_frames / static_cast<int64_t>(clips.size());
    for (size_t c = 0; c < clips.size() && !vision_only; ++c) {
      for (Question& question : training_questions(clips[c].scene, rng_, options_)) {
        const bool fast_zeroed =
            question.kind == QuestionKind::Detail && unit(rng_) < options_.detail_fast_dropout;
        scene_targets.add(clips[c].scene, !fast_zeroed);
        tasks.push_back(
            {static_cast<int64_t>(c) * frames, frames, std::move(question), fast_zeroed});
      }
    }
    // Share of the visual tokens' energy in their common mean: a vision tower that starts out
    // averaging mostly background gives every frame nearly the same token (a red and a green
    // shape differ by ~10%), and the language model's RMSNorm then sees almost no difference.
    // Penalising the common part keeps what differs between frames in view.
    const torch::Tensor common = features.mean(std::vector<int64_t>{0, 1}).pow(2).mean() /
                                 features.pow(2).mean().clamp_min(1e-12);
    Batch batch;
    batch.common_share = common.item<double>();
    batch.loss = options_.common_mode_penalty * common;
    if (!tasks.empty()) {
      const std::vector<bool> right = options_.question_threads > 1
                                          ? answer_on_threads(tasks, features, scene_targets, batch)
                                          : answer_here(tasks, features, scene_targets, batch);
      for (size_t i = 0; i < tasks.size(); ++i) {
        auto& tally = batch.correct[tasks[i].question.kind];
        tally.first += right[i] ? 1 : 0;
        tally.second += 1;
      }
    }
    if (options_.aux_weight > 0) {
      batch.aux_loss = aux_loss(features, targets);
      batch.loss = batch.loss + options_.aux_weight * batch.aux_loss;
    }
    batch.loss_value += batch.loss.item<double>();
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
  // A fresh shape scene, its dot sized by the curriculum, its event moved late in the window
  // options_.late_events of the time, or the scene made a stream window options_.stream_windows
  // of the time (see TrainOptions). Neither draws a random number when it is 0.
  Scene training_scene() {
    Scene scene = random_scene(next_seed_++, 0.0);
    scene.shape.dot_size =
        curriculum_dot_size(scene.shape.dot_size, step, options_.dot_curriculum_steps);
    std::uniform_real_distribution<double> unit(0, 1);
    if (options_.late_events > 0 && scene.shape.event != Event::None &&
        unit(rng_) < options_.late_events) {
      move_event_late(scene.shape, rng_);
    }
    if (options_.stream_windows > 0 && unit(rng_) < options_.stream_windows) {
      make_stream_window(scene.shape, rng_);
    }
    return scene;
  }

  // Two random frames of each of `scenes` fresh scenes (videotestsrc ones from the pre-rendered
  // pool), for the auxiliary loss only. The per-frame labels repeat in every frame of a clip, so
  // what teaches the vision tower is variety across scenes: a batch of 8 clips has 8 dot colours.
  void add_scene_frames(int scenes, std::vector<torch::Tensor>& pixels, FrameTargets& targets) {
    constexpr int kFramesPerScene = 2;
    std::uniform_real_distribution<double> unit(0, 1);
    std::uniform_int_distribution<int> frame_of(0, kClipFrames - 1);
    for (int i = 0; i < scenes; ++i) {
      std::vector<int> indices(kFramesPerScene);
      for (int& index : indices) index = frame_of(rng_);
      if (unit(rng_) < options_.pattern_share && !patterns_.empty()) {
        const Clip& clip =
            patterns_[std::uniform_int_distribution<size_t>(0, patterns_.size() - 1)(rng_)];
        const std::vector<int64_t> rows(indices.begin(), indices.end());
        pixels.push_back(clip.pixels.index_select(0, torch::tensor(rows)));
        for (int index : indices) targets.add(clip.scene, index);
        continue;
      }
      const Scene scene = training_scene();
      std::vector<uint8_t> rgb = render_shape_frames(scene, indices);
      const torch::Tensor frames = torch::from_blob(
          rgb.data(), {kFramesPerScene, scene.height, scene.width, 3}, torch::kUInt8);
      pixels.push_back(preprocess_frames(frames, config_.vision.image_size));
      for (int index : indices) targets.add(scene, index);
    }
  }

  // One question of a step: the clip's frames among the step's features, and its draws.
  struct Task {
    int64_t offset, frames;
    Question question;
    bool fast_zeroed;
  };
  // Teacher-forced results of a run of tasks, in their order.
  struct Asked {
    std::vector<torch::Tensor> losses, states;
    std::vector<bool> right;
  };

  Asked ask(const std::vector<Task>& tasks, size_t begin, size_t end,
            const torch::Tensor& features) {
    Asked asked;
    SlowFastTokens tokens;
    int64_t pooled_offset = -1;
    for (size_t i = begin; i < end; ++i) {
      const Task& task = tasks[i];
      if (task.offset != pooled_offset) {
        // [T, N, H] -> fast [F, H], slow [M, H]
        const torch::Tensor pooled = spatial_pool(features.narrow(0, task.offset, task.frames),
                                                  config_.mm_video_pooling_stride);
        tokens = split_slow_fast(pooled, config_);
        pooled_offset = task.offset;
      }
      const torch::Tensor fast = task.fast_zeroed ? torch::zeros_like(tokens.fast) : tokens.fast;
      auto [loss, right, state] = question_loss(task.question, fast, tokens.slow);
      asked.losses.push_back(loss);
      asked.states.push_back(state);
      asked.right.push_back(right);
    }
    return asked;
  }

  // The language model's scene head on the prompts' final states [Q, H].
  torch::Tensor scene_loss(const torch::Tensor& states, const SceneTargets& t) {
    const torch::Tensor logits = scene_head_->forward(states);  // [Q, kSceneOutputs]
    return torch::stack(block_cross_entropies(logits,
                                              {{kDirectionClasses, &t.direction},
                                               {kEventClasses, &t.event},
                                               {static_cast<int64_t>(kColours.size()), &t.colour},
                                               {static_cast<int64_t>(kShapeNames.size()), &t.shape},
                                               {kDotClasses, &t.dot},
                                               {kPatternClasses, &t.pattern}},
                                              scene_parts.data()))
        .sum();
  }

  // All questions on this thread, their losses added to batch.loss for the caller's backward.
  std::vector<bool> answer_here(const std::vector<Task>& tasks, const torch::Tensor& features,
                                const SceneTargets& scene_targets, Batch& batch) {
    Asked asked = ask(tasks, 0, tasks.size(), features);
    batch.loss = batch.loss + torch::stack(asked.losses).mean();
    if (options_.lm_aux_weight > 0) {
      batch.scene_loss = scene_loss(torch::cat(asked.states), scene_targets);
      batch.loss = batch.loss + options_.lm_aux_weight * batch.scene_loss;
    }
    return asked.right;
  }

  // The questions split over options_.question_threads threads, each running the forward and the
  // backward of its share: the per-operation overhead of these small sequences, not arithmetic,
  // bounds a step, so one thread leaves the second core idle. Each thread reads the features
  // through a leaf of its own; the summed leaf gradients go into batch.loss as a term of value 0
  // whose gradient is theirs, so the caller's backward carries them into the vision tower. The
  // scene head, which needs every state, runs here between the two parallel phases on leaves
  // of the states. Parameter gradients add up in another order than on one thread: the result
  // equals answer_here's up to float rounding.
  std::vector<bool> answer_on_threads(const std::vector<Task>& tasks, const torch::Tensor& features,
                                      const SceneTargets& scene_targets, Batch& batch) {
    const size_t n = std::min<size_t>(options_.question_threads, tasks.size());
    const auto share = [&](size_t w) { return tasks.size() * w / n; };
    std::vector<torch::Tensor> leaves(n), state_leaves(n);
    std::vector<Asked> asked(n);
    run_on_threads(n, [&](size_t w) {
      leaves[w] = features.detach().requires_grad_(true);
      asked[w] = ask(tasks, share(w), share(w + 1), leaves[w]);
    });
    const auto backward_start = Clock::now();
    if (options_.lm_aux_weight > 0) {
      for (size_t w = 0; w < n; ++w) {
        state_leaves[w] = torch::cat(asked[w].states).detach().requires_grad_(true);
      }
      batch.scene_loss = scene_loss(torch::cat(state_leaves), scene_targets);
      const torch::Tensor weighted = options_.lm_aux_weight * batch.scene_loss;
      weighted.backward();
      batch.loss_value += weighted.item<double>();
    }
    std::vector<double> answer_losses(n);
    run_on_threads(n, [&](size_t w) {
      torch::Tensor loss = torch::stack(asked[w].losses).sum() / static_cast<double>(tasks.size());
      answer_losses[w] = loss.item<double>();
      if (state_leaves[w].defined()) {
        loss = loss + (torch::cat(asked[w].states) * state_leaves[w].grad()).sum();
      }
      loss.backward();
    });
    batch.backward_seconds = seconds_since(backward_start);
    torch::Tensor grad = leaves[0].grad();
    for (size_t w = 1; w < n; ++w) grad = grad + leaves[w].grad();
    const torch::Tensor carried = (features * grad).sum();
    batch.loss = batch.loss + (carried - carried.detach());
    std::vector<bool> right;
    for (size_t w = 0; w < n; ++w) {
      batch.loss_value += answer_losses[w];
      right.insert(right.end(), asked[w].right.begin(), asked[w].right.end());
    }
    return right;
  }

  struct AnswerLoss {
    torch::Tensor loss;
    bool right = false;
    torch::Tensor state;  // [1, H]: the final hidden state of the prompt's last token
  };

  // Teacher-forced loss of one answer (then <|im_end|>) after the prompt; `right` when every
  // answer token is the argmax.
  AnswerLoss question_loss(const Question& question, const torch::Tensor& fast,
                           const torch::Tensor& slow) {
    const std::vector<int64_t> ids =
        tokenize_with_image(*tokenizer_, qwen_1_5_prompt(question.prompt));
    std::vector<int64_t> answer = tokenizer_->encode(question.answer);
    answer.push_back(im_end_);
    const std::vector<int64_t> answer_inputs(answer.begin(), answer.end() - 1);

    const TeacherForced forced = teacher_forced(net_, ids, fast, answer_inputs, slow);
    const torch::Tensor targets = torch::tensor(answer);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(forced.logits, targets);
    const bool right = forced.logits.argmax(-1).eq(targets).all().item<bool>();
    return {loss, right, forced.prompt_state};
  }

  // Cross-entropy of the per-frame heads (and the centre's squared error) on each frame's
  // tokens [B*T, N, H] taken together.
  torch::Tensor aux_loss(const torch::Tensor& features, const FrameTargets& targets) {
    // Each token normalised as the language model's RMSNorm sees it, not by its raw scale.
    const torch::Tensor tokens = features * torch::rsqrt(features.pow(2).mean(-1, true) + 1e-6);
    const torch::Tensor out = aux_head_->forward(tokens.flatten(1));  // [B*T, kAuxOutputs]
    std::vector<torch::Tensor> parts = block_cross_entropies(out,
                                                             {{kColourClasses, &targets.colour},
                                                              {kShapeClasses, &targets.shape},
                                                              {kDotClasses, &targets.dot},
                                                              {kPatternClasses, &targets.pattern}},
                                                             aux_parts.data());
    const torch::Tensor weight = torch::tensor(targets.centre_weight);
    const torch::Tensor centre_error = out.narrow(1, kAuxOutputs - 2, 2) -
                                       torch::tensor(targets.centre).view({-1, 2});  // [B*T, 2]
    parts.push_back((centre_error.pow(2).sum(1) * weight).sum() / weight.sum().clamp_min(1));
    aux_parts.back() += parts.back().item<double>();
    return torch::stack(parts).sum();
  }

  TrainOptions options_;
  Config config_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  SlowFastForCausalLM net_;
  std::mt19937_64 rng_;
  int64_t im_end_ = 0;
  uint64_t next_seed_ = 0;
  std::vector<Clip> patterns_;
  torch::nn::Linear aux_head_{nullptr};
  torch::nn::Linear scene_head_{nullptr};
};

// Every prompt the model sees, whole, so the tokenizer also learns the system prompt's words.
std::vector<std::string> tokenizer_texts(bool stream_events) {
  std::vector<std::string> texts;
  for (const std::string& text : template_corpus(stream_events)) {
    std::string prompt = qwen_1_5_prompt(text);
    const auto image = prompt.find(kImageToken);
    if (image != std::string::npos) prompt.erase(image, kImageToken.size());
    texts.push_back(prompt);
    texts.push_back(text);
  }
  return texts;
}

struct Prepared {
  nlohmann::json tokenizer_json, config_json;
  std::shared_ptr<const Tokenizer> tokenizer;
  Config config;
};

// Threads, the output directory, and the tokenizer written there: its size is the config's
// vocabulary.
Prepared prepare(const TrainOptions& options) {
  if (options.out_dir.empty()) throw Error("train: --out DIR is required");
  if (options.steps <= 0 || options.clips_per_step <= 0) {
    throw Error("train: --steps and --clips-per-step must be positive");
  }
  if (options.question_threads < 1) throw Error("train: --question-threads must be at least 1");
  if (options.yes_no_own_share < 0 || options.yes_no_own_share > 0.9) {
    throw Error("train: --yes-no-own-share must be between 0 and 0.9 (the other 0.1 is the ball)");
  }
  if (options.late_events < 0 || options.late_events > 1) {
    throw Error("train: --late-events must be between 0 and 1");
  }
  if (options.yes_no_per_clip < 1) throw Error("train: --yes-no-per-clip must be at least 1");
  if (options.stream_windows < 0 || options.stream_windows > 1) {
    throw Error("train: --stream-windows must be between 0 and 1");
  }
  torch::set_num_threads(options.threads);
  if (options.question_threads > 1) single_threaded_blas();
  const fs::path out(options.out_dir);
  fs::create_directories(out);
  Prepared prepared;
  prepared.tokenizer_json = train_tokenizer(tokenizer_texts(options.stream_windows > 0), 2000);
  write_json(out / "tokenizer.json", prepared.tokenizer_json);
  write_json(out / "tokenizer_config.json", tokenizer_config(prepared.tokenizer_json));
  prepared.tokenizer = Tokenizer::load(out.string());
  prepared.config_json =
      demo_config(prepared.tokenizer->size(), prepared.tokenizer->id_of("<|endoftext|>"),
                  prepared.tokenizer->id_of("<|im_end|>"));
  prepared.config = parse_config(prepared.config_json.dump(), "demo config");
  return prepared;
}

}  // namespace

std::map<std::string, torch::Tensor> first_step_gradients(const TrainOptions& options) {
  const Prepared prepared = prepare(options);
  Trainer trainer(options, prepared.config, prepared.tokenizer);
  trainer.prerender_patterns();
  trainer.step = 1;
  trainer.step_loss(options.train_frames, /*vision_only=*/false).loss.backward();
  std::map<std::string, torch::Tensor> gradients;
  for (const auto& item : trainer.net()->named_parameters()) {
    if (item.value().grad().defined()) gradients[item.key()] = item.value().grad().clone();
  }
  const auto add_head = [&](const std::string& name, const std::vector<torch::Tensor>& parameters) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (parameters[i].grad().defined()) {
        gradients[name + "." + std::to_string(i)] = parameters[i].grad().clone();
      }
    }
  };
  add_head("aux_head", trainer.aux_parameters());
  add_head("scene_head", trainer.scene_head_parameters());
  return gradients;
}

TrainResult train(const TrainOptions& options) {
  const fs::path out(options.out_dir);
  const auto start = Clock::now();
  const Prepared prepared = prepare(options);
  const nlohmann::json& tokenizer_json = prepared.tokenizer_json;
  const nlohmann::json& config_json = prepared.config_json;
  std::cout << "tokenizer: " << prepared.tokenizer->size() << " tokens" << std::endl;

  Trainer trainer(options, prepared.config, prepared.tokenizer);
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
  for (const auto& p : trainer.aux_parameters()) vision_parameters.push_back(p);
  for (const auto& p : trainer.scene_head_parameters()) language_parameters.push_back(p);
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
  double loss_sum = 0, aux_sum = 0, forward_seconds = 0, backward_seconds = 0;
  int scene_steps = 0;
  for (int64_t step = 1; step <= options.steps; ++step) {
    // Linear warm-up, then cosine decay to 5%.
    const double progress =
        static_cast<double>(step - warmup) / std::max<int64_t>(1, options.steps - warmup);
    const double scale = step <= warmup ? static_cast<double>(step) / warmup
                                        : 0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * progress));
    for (size_t group = 0; group < optimizer.param_groups().size(); ++group) {
      static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[group].options())
          .lr(base_rates[group] * scale);
    }
    optimizer.zero_grad();
    trainer.step = step;
    const auto forward_start = Clock::now();
    const bool full_window = options.full_window_every > 0 && step % options.full_window_every == 0;
    const bool vision_only = step <= options.vision_warmup_steps;
    Batch batch = trainer.step_loss(
        full_window && !vision_only ? kClipFrames : options.train_frames, vision_only);
    forward_seconds += seconds_since(forward_start) - batch.backward_seconds;
    const auto backward_start = Clock::now();
    batch.loss.backward();
    backward_seconds += seconds_since(backward_start) + batch.backward_seconds;
    if (step % options.log_every == 0) {
      std::cout << "  gradient norms:";
      for (const char* part :
           {"model.vision_tower", "model.mm_projector", "model.layers", "lm_head"}) {
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

    loss_sum += batch.loss_value;
    if (batch.aux_loss.defined()) aux_sum += batch.aux_loss.item<double>();
    if (batch.scene_loss.defined()) scene_steps += 1;
    for (const auto& [kind, tally] : batch.correct) {
      window[kind].first += tally.first;
      window[kind].second += tally.second;
    }
    if (step % options.log_every == 0 || step == options.steps) {
      const double mean_loss = loss_sum / ((step - 1) % options.log_every + 1);
      if (result.first_loss == 0) result.first_loss = mean_loss;
      result.last_loss = mean_loss;
      std::cout << "step " << step << "/" << options.steps << "  loss " << std::setprecision(4)
                << mean_loss << "  teacher-forced exact:";
      for (const auto& [kind, tally] : window) {
        std::cout << " " << kind_name(kind) << " " << tally.first << "/" << tally.second;
      }
      std::cout << "  common " << std::setprecision(3) << batch.common_share;
      if (batch.aux_loss.defined()) {
        const int steps = (step - 1) % options.log_every + 1;
        std::cout << "  aux " << aux_sum / steps << " (";
        for (double& part : trainer.aux_parts) std::cout << " " << part / steps, part = 0;
        std::cout << " )";
      }
      if (scene_steps > 0) {
        std::cout << "  scene (";
        for (double& part : trainer.scene_parts) std::cout << " " << part / scene_steps, part = 0;
        std::cout << " )";
        scene_steps = 0;
      }
      std::cout << "  " << std::setprecision(1) << std::fixed << "(per step: data "
                << trainer.data_seconds / options.log_every << " s, vision "
                << trainer.vision_seconds / options.log_every << " s, forward "
                << forward_seconds / options.log_every << " s, backward "
                << backward_seconds / options.log_every << " s)  " << std::setprecision(0)
                << seconds_since(start) << " s" << std::defaultfloat << std::endl;
      window.clear();
      loss_sum = aux_sum = forward_seconds = backward_seconds = 0;
      trainer.data_seconds = trainer.vision_seconds = 0;
    }
    if (step % 200 == 0 || step == options.steps) {
      trainer.save(out, config_json, tokenizer_json);
    }
  }
  write_json(out / "training.json", {{"steps", options.steps},
                                     {"clips_per_step", options.clips_per_step},
                                     {"learning_rate", options.learning_rate},
                                     {"vision_lr_scale", options.vision_lr_scale},
                                     {"common_mode_penalty", options.common_mode_penalty},
                                     {"aux_weight", options.aux_weight},
                                     {"vision_warmup_steps", options.vision_warmup_steps},
                                     {"aux_scenes", options.aux_scenes},
                                     {"lm_aux_weight", options.lm_aux_weight},
                                     {"aux_scenes_per_step", options.aux_scenes_per_step},
                                     {"dot_curriculum_steps", options.dot_curriculum_steps},
                                     {"seed", options.seed},
                                     {"init_from", options.init_from},
                                     {"threads", options.threads},
                                     {"question_threads", options.question_threads},
                                     {"pattern_share", options.pattern_share},
                                     {"detail_fast_dropout", options.detail_fast_dropout},
                                     {"patterns_pool", options.patterns_pool},
                                     {"pattern_sizes_in_turn", options.pattern_sizes_in_turn},
                                     {"yes_no_near_miss", options.yes_no_near_miss},
                                     {"yes_no_own_share", options.yes_no_own_share},
                                     {"late_events", options.late_events},
                                     {"stream_windows", options.stream_windows},
                                     {"yes_no_per_clip", options.yes_no_per_clip},
                                     {"train_frames", options.train_frames},
                                     {"full_window_every", options.full_window_every},
                                     {"seconds", seconds_since(start)}});
  result.seconds = seconds_since(start);
  std::cout << "wrote " << out.string() << " in " << result.seconds << " s" << std::endl;
  return result;
}

}  // namespace slowfast::demo
