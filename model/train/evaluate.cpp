#include "train/evaluate.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <torch/torch.h>

#include "engine_internal.h"
#include "tools/npy.h"
#include "train/scene.h"
#include "train/tasks.h"
#include "train/testsrc.h"

namespace slowfast::demo {
namespace fs = std::filesystem;

namespace {

// The questions of held-out clip `seed`: canonical wording, drawn from the clip's own seed.
std::vector<Question> eval_questions(const Scene& scene, uint64_t seed) {
  std::mt19937_64 rng(seed);
  return questions_for(scene, rng, /*vary_prompts=*/false);
}

// The rendered clip as the engine's frame views (no copy).
std::vector<FrameView> frame_views(const Scene& scene, const std::vector<uint8_t>& frames) {
  std::vector<FrameView> views;
  for (int f = 0; f < scene.frames; ++f) {
    views.push_back({frames.data() + static_cast<size_t>(f) * scene.width * scene.height * 3,
                     scene.width, scene.height, scene.width * 3});
  }
  return views;
}

// Evaluation runs in float32 on the CPU, as the numbers in docs/model.md were measured.
std::shared_ptr<const Model> load_for_evaluation(const std::string& model_dir) {
  LoadOptions load;
  load.model_dir = model_dir;
  load.dtype = DType::Float32;
  load.device = Device::Cpu;
  return Model::load(load);
}

GenerationParams greedy() {
  GenerationParams params;
  params.temperature = 0;
  params.max_new_tokens = 32;
  return params;
}

struct Tally {
  int right = 0, asked = 0;
  void add(bool is_right) { right += is_right ? 1 : 0, asked += 1; }
  nlohmann::json json() const {
    return {{"right", right},
            {"asked", asked},
            {"accuracy", asked ? static_cast<double>(right) / asked : 0.0}};
  }
};

}  // namespace

nlohmann::json evaluate(const EvalOptions& options) {
  const auto model = load_for_evaluation(options.model_dir);
  Session session(model);
  const GenerationParams params = greedy();

  std::map<std::string, Tally> tally;
  for (int i = 0; i < options.count; ++i) {
    const uint64_t seed = options.first_seed + i;
    Scene scene = random_scene(seed, options.pattern_share);
    if (options.late_events && !scene.is_pattern) {
      // Not `seed` itself: eval_questions draws from that, and its first number would then
      // decide both where the event moves and which object the yes/no question asks about.
      std::mt19937_64 rng(~seed);
      move_event_late(scene.shape, rng);
    }
    const std::vector<uint8_t> frames = render_scene(scene);
    const auto features = model->encode_frames(frame_views(scene, frames), false);
    for (const Question& question : eval_questions(scene, seed)) {
      const Answer answer =
          answer_with_trace(session, features, question.prompt, params, {}, {}, nullptr,
                            options.zero_slow_tokens ? Ablation::ZeroSlowTokens : Ablation::None);
      const bool right = is_correct(question, answer.text);
      tally[kind_name(question.kind)].add(right);
      if (!right && options.verbose) {
        std::cout << "seed " << seed << " " << kind_name(question.kind) << ": asked \""
                  << question.prompt << "\" expected \"" << question.answer << "\" got \""
                  << answer.text << "\"" << std::endl;
      }
    }
  }
  nlohmann::json result = nlohmann::json::object();
  for (const auto& [kind, t] : tally) result[kind] = t.json();
  return result;
}

nlohmann::json evaluate_alerts(const AlertOptions& options) {
  const auto model = load_for_evaluation(options.model_dir);
  Session session(model);
  const GenerationParams params = greedy();
  Tally own, other, clips;
  for (int i = 0; i < options.count; ++i) {
    const uint64_t seed = options.first_seed + i;
    const Scene scene = alert_scene(seed);
    const ShapeScene& s = scene.shape;
    std::mt19937_64 rng(~seed);
    const auto [other_colour, other_shape] = near_miss(s, rng);
    const std::vector<std::pair<std::string, bool>> asked_about = {
        {yes_no_prompt(kColours[s.colour].name, kShapeNames[static_cast<int>(s.shape)]), true},
        {yes_no_prompt(kColours[other_colour].name, kShapeNames[other_shape]), false}};

    const std::vector<uint8_t> frames = render_scene(scene);
    const auto features = model->encode_frames(frame_views(scene, frames), false);
    bool clip_right = true;
    for (int end = kClipFrames - 1; end < scene.frames; end += kPresentTailFrames) {
      const std::vector<FrameFeatures> window(features.begin() + end + 1 - kClipFrames,
                                              features.begin() + end + 1);
      for (const auto& [prompt, is_own] : asked_about) {
        const Question question{QuestionKind::YesNo, prompt,
                                is_own && scene.shape_present_at(end) ? "Yes." : "No."};
        const Answer answer = session.answer(window, prompt, params);
        const bool right = is_correct(question, answer.text);
        (is_own ? own : other).add(right);
        clip_right = clip_right && right;
        if (!right && options.verbose) {
          std::cout << "seed " << seed << " (a " << kColours[s.colour].name << " "
                    << kShapeNames[static_cast<int>(s.shape)] << " in view " << s.first_visible
                    << ".." << s.last_visible << ") window ending " << end << ": asked \"" << prompt
                    << "\" expected \"" << question.answer << "\" got \"" << answer.text << "\""
                    << std::endl;
        }
      }
    }
    clips.add(clip_right);
  }
  return {{"own", own.json()}, {"other", other.json()}, {"clips", clips.json()}};
}

void write_eval_set(const std::string& dir, int count, uint64_t first_seed, double pattern_share) {
  fs::create_directories(dir);
  std::ofstream cases(fs::path(dir) / "cases.jsonl");
  for (int i = 0; i < count; ++i) {
    const uint64_t seed = first_seed + i;
    const Scene scene = random_scene(seed, pattern_share);
    std::vector<uint8_t> frames = render_scene(scene);
    char name[32];
    std::snprintf(name, sizeof name, "clip_%04d", i);
    const torch::Tensor rgb = torch::from_blob(
        frames.data(), {scene.frames, scene.height, scene.width, 3}, torch::kUInt8);
    write_npy((fs::path(dir) / (std::string(name) + ".npy")).string(), rgb);
    std::ofstream raw(fs::path(dir) / (std::string(name) + ".rgb"), std::ios::binary);
    raw.write(reinterpret_cast<const char*>(frames.data()),
              static_cast<std::streamsize>(frames.size()));
    nlohmann::json questions = nlohmann::json::array();
    for (const Question& q : eval_questions(scene, seed)) {
      questions.push_back(
          {{"kind", kind_name(q.kind)}, {"prompt", q.prompt}, {"answer", q.answer}});
    }
    cases << nlohmann::json{{"clip", name},           {"seed", seed},
                            {"width", scene.width},   {"height", scene.height},
                            {"frames", scene.frames}, {"questions", questions}}
                 .dump()
          << "\n";
  }
  if (!cases) throw Error("cannot write " + (fs::path(dir) / "cases.jsonl").string());
}

}  // namespace slowfast::demo

namespace slowfast::demo {

nlohmann::json probe_features(const std::string& model_dir, int count, uint64_t first_seed) {
  const auto model = load_for_evaluation(model_dir);
  std::vector<torch::Tensor> rows, pixel_rows;
  std::map<std::string, std::vector<int64_t>> labels;
  for (int i = 0; rows.size() < static_cast<size_t>(count); ++i) {
    const Scene scene = random_scene(first_seed + i, 0.0);
    const std::vector<uint8_t> frames = render_scene(scene);
    std::vector<torch::Tensor> pooled;
    for (const auto& frame : model->encode_frames(frame_views(scene, frames), false)) {
      pooled.push_back(frame.impl()->pooled);
    }
    const torch::Tensor tokens = torch::stack(pooled);  // [T, n, H]
    // Per clip: every frame's tokens averaged ([H]), and their spread over frames ([H]).
    rows.push_back(torch::cat({tokens.mean(std::vector<int64_t>{0, 1}), tokens.mean(1).std(0)}));
    // Baseline: the pixels themselves on a 2 x 2 grid, averaged over frames, and their spread.
    const torch::Tensor rgb =
        torch::from_blob(const_cast<uint8_t*>(frames.data()),
                         {scene.frames, scene.height, scene.width, 3}, torch::kUInt8)
            .permute({0, 3, 1, 2})
            .to(torch::kFloat32);
    const torch::Tensor grid = torch::adaptive_avg_pool2d(rgb, {2, 2}).flatten(1);  // [T, 12]
    pixel_rows.push_back(torch::cat({grid.mean(0), grid.std(0)}));
    labels["colour"].push_back(scene.shape.colour);
    labels["shape"].push_back(static_cast<int64_t>(scene.shape.shape));
    labels["direction"].push_back(static_cast<int64_t>(scene.shape.direction));
    labels["dot_colour"].push_back(scene.shape.dot_colour);
  }
  nlohmann::json result;
  const std::vector<std::pair<std::string, const std::vector<torch::Tensor>*>> sets = {
      {"features", &rows}, {"pixels", &pixel_rows}};
  for (const auto& [name, data] : sets) {
    torch::Tensor x = torch::stack(*data);
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6);
    const int64_t train = x.size(0) * 3 / 4;
    const torch::Tensor xa = torch::cat({x, torch::ones({x.size(0), 1})}, 1);
    const torch::Tensor a = xa.narrow(0, 0, train);
    for (const auto& [field, values] : labels) {
      // Ridge least squares, one-vs-rest, on the first 3/4; accuracy on the rest.
      const torch::Tensor y = torch::tensor(values);
      const int64_t classes = y.max().item<int64_t>() + 1;
      const torch::Tensor targets = torch::one_hot(y, classes).to(torch::kFloat32);
      const torch::Tensor w = torch::linalg::solve(a.t().mm(a) + 1e-1 * torch::eye(a.size(1)),
                                                   a.t().mm(targets.narrow(0, 0, train)), true);
      const torch::Tensor predicted = xa.narrow(0, train, x.size(0) - train).mm(w).argmax(1);
      result[name][field] = predicted.eq(y.narrow(0, train, x.size(0) - train))
                                .to(torch::kFloat32)
                                .mean()
                                .item<double>();
    }
  }
  return result;
}

}  // namespace slowfast::demo
