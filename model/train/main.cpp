// slowfast-demo: trains, evaluates and renders clips for the built-in demo model.
//
//   slowfast-demo train --out DIR [--steps N] [--clips-per-step B] [--lr X] [--seed S]
//                       [--threads T] [--train-frames F] [--log-every K] [--init DIR]
//                       [--common-mode-penalty X] [--aux-weight X] [--vision-warmup-steps N]
//                       [--aux-scenes N] [--aux-scenes-per-step N] [--lm-aux-weight X]
//                       [--dot-curriculum-steps N]
//                       [--detail-fast-dropout P] [--pattern-share P] [--patterns-pool N]
//                       [--pattern-sizes-in-turn] [--yes-no-near-miss P]
//                       [--yes-no-own-share P] [--late-events P] [--stream-windows P]
//                       [--yes-no-per-clip N] [--question-threads N]
//   slowfast-demo eval --model DIR [--count N] [--first-seed S] [--zero-slow-tokens] [--verbose]
//                      [--late-events]
//   slowfast-demo alerts --model DIR [--count N] [--first-seed S] [--verbose]
//   slowfast-demo probe --model DIR [--count N] [--first-seed S]   (linear probe of the features)
//   slowfast-demo make-eval --out DIR [--count N] [--first-seed S]
//   slowfast-demo render --out FILE.npy|FILE.rgb [--seed S] [--frames N] [--width W]
//                        [--height H] [--colour C] [--shape S] [--direction D]
//                        [--visible FIRST:LAST] [--pattern NICK] [--frame-step K]
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "slowfast.h"
#include "tools/npy.h"
#include "train/evaluate.h"
#include "train/scene.h"
#include "train/testsrc.h"
#include "train/trainer.h"

namespace {

using namespace slowfast;
using namespace slowfast::demo;

struct Args {
  std::map<std::string, std::string> values;
  bool has(const std::string& key) const { return values.count(key) != 0; }
  std::string get(const std::string& key, const std::string& fallback = "") const {
    const auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    try {
      size_t used = 0;
      const double value = std::stod(get(key), &used);
      if (used == get(key).size()) return value;
    } catch (const std::exception&) {
    }
    throw Error("--" + key + ": not a number: '" + get(key) + "'");
  }
};

Args parse(int argc, char** argv, int first, const std::vector<std::string>& flags) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) throw Error("unexpected argument '" + arg + "'");
    arg = arg.substr(2);
    if (std::find(flags.begin(), flags.end(), arg) != flags.end()) {
      args.values[arg] = "1";
    } else if (i + 1 < argc) {
      args.values[arg] = argv[++i];
    } else {
      throw Error("--" + arg + " needs a value");
    }
  }
  return args;
}

template <size_t N>
int index_of(const std::array<const char*, N>& names, const std::string& name,
             const std::string& option) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<int>(i);
  }
  throw Error("--" + option + ": unknown value '" + name + "'");
}

int colour_index(const std::string& name) {
  for (size_t i = 0; i < kColours.size(); ++i) {
    if (name == kColours[i].name) return static_cast<int>(i);
  }
  throw Error("--colour: unknown colour '" + name + "' (red, green, blue, yellow)");
}

// A scripted scene: the random one of --seed with the given fields replaced. For clips longer
// than a window the shape bounces between the edges (see render_shapes).
int render(const Args& args) {
  Scene scene = random_scene(static_cast<uint64_t>(args.number("seed", 0)), 0.0);
  scene.frames = static_cast<int>(args.number("frames", scene.frames));
  scene.width = static_cast<int>(args.number("width", scene.width));
  scene.height = static_cast<int>(args.number("height", scene.height));
  if (args.has("pattern")) {
    scene.is_pattern = true;
    bool found = false;
    for (Pattern p : kPatterns) {
      if (args.get("pattern") == pattern_nick(p)) scene.pattern.pattern = p, found = true;
    }
    if (!found)
      throw Error("--pattern: unknown videotestsrc pattern '" + args.get("pattern") + "'");
    scene.pattern.frame_step = static_cast<int>(args.number("frame-step", 1));
    scene.pattern.first_frame = 0;
  }
  ShapeScene& s = scene.shape;
  if (args.has("colour")) s.colour = colour_index(args.get("colour"));
  if (args.has("shape"))
    s.shape = static_cast<ShapeKind>(index_of(kShapeNames, args.get("shape"), "shape"));
  if (args.has("direction")) {
    s.set_direction(
        static_cast<Direction>(index_of(kDirectionNames, args.get("direction"), "direction")));
  }
  s.first_visible = 0;
  s.last_visible = scene.frames - 1;
  if (args.has("visible")) {
    const std::string range = args.get("visible");
    const auto colon = range.find(':');
    if (colon == std::string::npos) throw Error("--visible: expected FIRST:LAST frame indices");
    s.first_visible = std::stoi(range.substr(0, colon));
    s.last_visible = std::stoi(range.substr(colon + 1));
  }
  const std::vector<uint8_t> frames = render_scene(scene);
  const std::string out = args.get("out");
  if (out.size() > 4 && out.compare(out.size() - 4, 4, ".npy") == 0) {
    std::vector<uint8_t> copy = frames;
    write_npy(out, torch::from_blob(copy.data(), {scene.frames, scene.height, scene.width, 3},
                                    torch::kUInt8));
  } else {
    std::ofstream raw(out, std::ios::binary);
    raw.write(reinterpret_cast<const char*>(frames.data()),
              static_cast<std::streamsize>(frames.size()));
    if (!raw) throw Error("cannot write " + out);
  }
  std::cout << nlohmann::json{{"out", out},
                              {"frames", scene.frames},
                              {"width", scene.width},
                              {"height", scene.height}}
                   .dump()
            << std::endl;
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: slowfast-demo train|eval|alerts|probe|make-eval|render [options]\n"
                 "(see the source header or docs/model.md)\n";
    return 2;
  }
  const std::string command = argv[1];
  if (command == "train") {
    const Args args = parse(argc, argv, 2, {"pattern-sizes-in-turn"});
    TrainOptions options;
    options.out_dir = args.get("out");
    options.steps = static_cast<int64_t>(args.number("steps", options.steps));
    options.clips_per_step =
        static_cast<int>(args.number("clips-per-step", options.clips_per_step));
    options.learning_rate = args.number("lr", options.learning_rate);
    options.vision_lr_scale = args.number("vision-lr-scale", options.vision_lr_scale);
    options.seed = static_cast<uint64_t>(args.number("seed", options.seed));
    if (args.has("init")) options.init_from = args.get("init");
    options.common_mode_penalty = args.number("common-mode-penalty", options.common_mode_penalty);
    options.aux_weight = args.number("aux-weight", options.aux_weight);
    options.vision_warmup_steps =
        static_cast<int64_t>(args.number("vision-warmup-steps", options.vision_warmup_steps));
    options.lm_aux_weight = args.number("lm-aux-weight", options.lm_aux_weight);
    options.aux_scenes = static_cast<int>(args.number("aux-scenes", options.aux_scenes));
    options.aux_scenes_per_step =
        static_cast<int>(args.number("aux-scenes-per-step", options.aux_scenes_per_step));
    options.dot_curriculum_steps =
        static_cast<int64_t>(args.number("dot-curriculum-steps", options.dot_curriculum_steps));
    options.detail_fast_dropout = args.number("detail-fast-dropout", options.detail_fast_dropout);
    options.pattern_share = args.number("pattern-share", options.pattern_share);
    options.patterns_pool = static_cast<int>(args.number("patterns-pool", options.patterns_pool));
    options.pattern_sizes_in_turn = args.has("pattern-sizes-in-turn");
    options.yes_no_near_miss = args.number("yes-no-near-miss", options.yes_no_near_miss);
    options.yes_no_own_share = args.number("yes-no-own-share", options.yes_no_own_share);
    options.late_events = args.number("late-events", options.late_events);
    options.stream_windows = args.number("stream-windows", options.stream_windows);
    options.yes_no_per_clip =
        static_cast<int>(args.number("yes-no-per-clip", options.yes_no_per_clip));
    options.threads = static_cast<int>(args.number("threads", options.threads));
    options.question_threads =
        static_cast<int>(args.number("question-threads", options.question_threads));
    options.train_frames = static_cast<int>(args.number("train-frames", options.train_frames));
    options.log_every = static_cast<int>(args.number("log-every", options.log_every));
    train(options);
    return 0;
  }
  if (command == "eval") {
    const Args args = parse(argc, argv, 2, {"zero-slow-tokens", "verbose", "late-events"});
    EvalOptions options;
    options.model_dir = args.get("model");
    options.count = static_cast<int>(args.number("count", options.count));
    options.first_seed = static_cast<uint64_t>(args.number("first-seed", options.first_seed));
    options.zero_slow_tokens = args.has("zero-slow-tokens");
    options.verbose = args.has("verbose");
    options.late_events = args.has("late-events");
    if (args.has("threads")) torch::set_num_threads(static_cast<int>(args.number("threads", 2)));
    std::cout << evaluate(options).dump() << std::endl;
    return 0;
  }
  if (command == "alerts") {
    const Args args = parse(argc, argv, 2, {"verbose"});
    AlertOptions options;
    options.model_dir = args.get("model");
    options.count = static_cast<int>(args.number("count", options.count));
    options.first_seed = static_cast<uint64_t>(args.number("first-seed", options.first_seed));
    options.verbose = args.has("verbose");
    if (args.has("threads")) torch::set_num_threads(static_cast<int>(args.number("threads", 2)));
    std::cout << evaluate_alerts(options).dump() << std::endl;
    return 0;
  }
  if (command == "make-eval") {
    const Args args = parse(argc, argv, 2, {});
    write_eval_set(args.get("out"), static_cast<int>(args.number("count", 200)),
                   static_cast<uint64_t>(args.number("first-seed", kEvalSeedBase)), 0.25);
    return 0;
  }
  if (command == "probe") {
    const Args args = parse(argc, argv, 2, {});
    std::cout << probe_features(args.get("model"), static_cast<int>(args.number("count", 400)),
                                static_cast<uint64_t>(args.number("first-seed", kEvalSeedBase)))
                     .dump()
              << std::endl;
    return 0;
  }
  if (command == "render") return render(parse(argc, argv, 2, {}));
  std::cerr << "slowfast-demo: unknown command '" << command << "'\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Idle OpenMP threads sleep instead of spinning: the tiny model's operations leave them idle
  // most of the time, and spinning steals the core from other work (and from each other).
  setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "slowfast-demo: " << e.what() << "\n";
    return 1;
  }
}
