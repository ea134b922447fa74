// The demo model's training side: synthetic scenes, question templates, its tokenizer (loaded
// by the engine's own tokenizer code) and a short training run through the engine's modules.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "layers/random_init.h"
#include "slowfast.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "train/demo_tokenizer.h"
#include "train/scene.h"
#include "train/tasks.h"
#include "train/testsrc.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using namespace slowfast;
using namespace slowfast::demo;

namespace {

fs::path temp_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("slowfast_test_demo_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::array<uint8_t, 3> pixel(const std::vector<uint8_t>& frames, const Scene& scene, int frame,
                             int x, int y) {
  const size_t at = ((static_cast<size_t>(frame) * scene.height + y) * scene.width + x) * 3;
  return {frames[at], frames[at + 1], frames[at + 2]};
}

Scene fixed_scene() {
  Scene scene = random_scene(11, 0.0);
  scene.width = scene.height = 128;
  ShapeScene& s = scene.shape;
  s.shape = ShapeKind::Square;
  s.colour = 1;  // green
  s.direction = Direction::Right;
  s.event = Event::None;
  s.size = 12;
  s.start_x = 30;
  s.start_y = 40;
  s.speed = 1;
  s.first_visible = 0;
  s.last_visible = kClipFrames - 1;
  s.dot_colour = 0;  // red
  s.dot_size = 3;
  s.background = {10, 10, 10};
  return scene;
}

// A run of a few steps on 2 clips of 8 frames.
TrainOptions tiny_training(const fs::path& dir, int64_t steps, int log_every) {
  TrainOptions options;
  options.out_dir = dir.string();
  options.steps = steps;
  options.clips_per_step = 2;
  options.train_frames = 8;
  options.full_window_every = 0;
  options.patterns_pool = 1;
  options.log_every = log_every;
  return options;
}

}  // namespace

TEST(DemoScene, SameSeedSameClipOtherSeedOtherClip) {
  const auto a = render_scene(random_scene(42, 0.0));
  EXPECT_EQ(a, render_scene(random_scene(42, 0.0)));
  EXPECT_NE(a, render_scene(random_scene(43, 0.0)));
}

TEST(DemoScene, ShapeAndDotAreDrawnWhereTheSceneSays) {
  const Scene scene = fixed_scene();
  const auto frames = render_shapes(scene);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kClipFrames) * 128 * 128 * 3);
  const auto green = kColours[1].rgb, red = kColours[0].rgb;
  EXPECT_EQ(pixel(frames, scene, 0, 30, 40), green);
  EXPECT_EQ(pixel(frames, scene, 20, 50, 40), green);  // moved right by 20 pixels
  EXPECT_EQ((pixel(frames, scene, 20, 30, 40)), (std::array<uint8_t, 3>{10, 10, 10}));
  for (int frame : {0, 63}) {
    const auto [x, y] = scene.shape.dot_position(frame);
    EXPECT_EQ(pixel(frames, scene, frame, static_cast<int>(x), static_cast<int>(y)), red);
  }
  EXPECT_NE(scene.shape.dot_position(0), scene.shape.dot_position(1)) << "the dot jumps";
}

TEST(DemoScene, FramesOfAnotherSizeShowTheSameSquareScaled) {
  Scene scene = fixed_scene();
  scene.width = 512;
  scene.height = 256;  // central 256 x 256 square, scale 2
  const auto frames = render_shapes(scene);
  EXPECT_EQ(pixel(frames, scene, 0, 128 + 60, 80), kColours[1].rgb);
  EXPECT_EQ((pixel(frames, scene, 0, 60, 80)), (std::array<uint8_t, 3>{10, 10, 10}));
}

TEST(DemoScene, SelectedFramesAreThoseOfTheWholeClip) {
  const Scene scene = random_scene(7, 0.0);
  const auto all = render_shapes(scene);
  const std::vector<int> indices = {63, 5, 5};
  const auto some = render_shape_frames(scene, indices);
  const size_t frame_bytes = static_cast<size_t>(scene.width) * scene.height * 3;
  ASSERT_EQ(some.size(), indices.size() * frame_bytes);
  for (size_t slot = 0; slot < indices.size(); ++slot) {
    EXPECT_TRUE(std::equal(some.begin() + slot * frame_bytes,
                           some.begin() + (slot + 1) * frame_bytes,
                           all.begin() + indices[slot] * frame_bytes))
        << "frame " << indices[slot];
  }
}

TEST(DemoScene, PresentAtEndCountsTheLastQuarter) {
  Scene scene = fixed_scene();
  EXPECT_TRUE(scene.shape_present_at_end());
  scene.shape.last_visible = 44;  // gone 19 frames before the end
  EXPECT_FALSE(scene.shape_present_at_end());
  scene.shape.last_visible = kClipFrames - 1;
  scene.shape.first_visible = kClipFrames - kPresentMinFrames;  // just enough frames
  EXPECT_TRUE(scene.shape_present_at_end());
  scene.shape.first_visible = kClipFrames - kPresentMinFrames + 1;
  EXPECT_FALSE(scene.shape_present_at_end());
}

TEST(DemoScene, LateEventsComeOrGoInTheLastQuarter) {
  std::mt19937_64 rng(9);
  std::map<Event, int> moved;
  int still_there = 0, gone = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    Scene scene = random_scene(seed, 0.0);
    const ShapeScene before = scene.shape;
    move_event_late(scene.shape, rng);
    const ShapeScene& after = scene.shape;
    switch (before.event) {
      case Event::None:
        EXPECT_EQ(after.first_visible, before.first_visible);
        EXPECT_EQ(after.last_visible, before.last_visible);
        break;
      case Event::Appears:
        // Frames 41 to 56 (scene.h), so it is there at the end for 8 frames or more.
        EXPECT_GE(after.first_visible, 41);
        EXPECT_LE(after.first_visible, 56);
        EXPECT_TRUE(scene.shape_present_at_end()) << "seed " << seed;
        ++moved[Event::Appears];
        break;
      case Event::Disappears:
        EXPECT_GE(after.last_visible, 45);
        EXPECT_LE(after.last_visible, 62);
        (scene.shape_present_at_end() ? still_there : gone) += 1;
        ++moved[Event::Disappears];
        break;
      case Event::Passes:
      case Event::Absent:
        ADD_FAILURE() << "random_scene drew a stream window's event";
        break;
    }
  }
  EXPECT_GT(moved[Event::Appears], 50);
  // Leaving in the last quarter is "still there" or "gone" by the one-hop rule: both occur.
  EXPECT_GT(still_there, 20);
  EXPECT_GT(gone, 10);
}

TEST(DemoScene, StreamWindowsComeGoPassOrMissTheWindow) {
  std::mt19937_64 rng(4);
  std::map<Event, int> events;
  for (uint64_t seed = 0; seed < 600; ++seed) {
    Scene scene = random_scene(seed, 0.0);
    const ShapeScene before = scene.shape;
    make_stream_window(scene.shape, rng);
    const ShapeScene& s = scene.shape;
    EXPECT_EQ(s.colour, before.colour);
    EXPECT_EQ(s.start_x, before.start_x);
    const int stay = s.last_visible - s.first_visible + 1;
    EXPECT_GE(stay, 20);
    EXPECT_LE(stay, 56);
    const int visible = scene.shape_visible_frames();
    const bool at_start = scene.shape_visible(0), at_end = scene.shape_visible(kClipFrames - 1);
    switch (s.event) {
      case Event::Absent:
        EXPECT_EQ(visible, 0) << "seed " << seed;
        break;
      case Event::Passes:
        EXPECT_TRUE(visible > 0 && !at_start && !at_end) << "seed " << seed;
        break;
      case Event::Appears:
        EXPECT_TRUE(!at_start && at_end) << "seed " << seed;
        break;
      case Event::Disappears:
        EXPECT_TRUE(at_start && !at_end) << "seed " << seed;
        break;
      case Event::None:
        EXPECT_EQ(visible, kClipFrames) << "seed " << seed;
        break;
    }
    if (s.event == Event::Absent) {
      EXPECT_FALSE(scene.shape_present_at_end());
    }
    ++events[s.event];
  }
  // A stay of at most 56 frames never covers a whole window; every other case is common.
  EXPECT_EQ(events[Event::None], 0);
  for (Event e : {Event::Absent, Event::Passes, Event::Appears, Event::Disappears}) {
    EXPECT_GT(events[e], 60) << static_cast<int>(e);
  }
}

TEST(DemoScene, AlertClipsShowTheObjectOnceAtEveryPhaseOfTheHop) {
  std::set<int> arrival_phases, departure_phases;
  int yes = 0, no = 0, windows = 0;
  for (uint64_t seed = kAlertSeedBase; seed < kAlertSeedBase + 200; ++seed) {
    const Scene scene = alert_scene(seed);
    ASSERT_EQ(scene.frames, kAlertClipFrames);
    EXPECT_FALSE(scene.is_pattern);
    EXPECT_EQ(scene.shape.colour, random_scene(seed, 0.0).shape.colour);
    EXPECT_GE(scene.shape.first_visible, 40);
    EXPECT_LT(scene.shape.last_visible, kAlertClipFrames);
    arrival_phases.insert(scene.shape.first_visible % kPresentTailFrames);
    departure_phases.insert(scene.shape.last_visible % kPresentTailFrames);
    bool any_yes = false;
    for (int end = kClipFrames - 1; end < scene.frames; end += kPresentTailFrames, ++windows) {
      const bool present = scene.shape_present_at(end);
      (present ? yes : no) += 1;
      any_yes = any_yes || present;
    }
    EXPECT_TRUE(any_yes) << "seed " << seed << ": a stay of 20 frames fills some window's end";
  }
  EXPECT_EQ(windows, 200 * 7);
  EXPECT_EQ(arrival_phases.size(), static_cast<size_t>(kPresentTailFrames));
  EXPECT_EQ(departure_phases.size(), static_cast<size_t>(kPresentTailFrames));
  EXPECT_GT(yes, 300);
  EXPECT_GT(no, 300);
}

TEST(DemoScene, VideotestsrcPatternsComeFromGStreamer) {
  Scene scene = random_scene(5, 1.0);
  scene.width = 160;
  scene.height = 120;
  scene.pattern.pattern = Pattern::Ball;
  scene.pattern.frame_step = 3;
  const auto ball = render_pattern(scene);
  ASSERT_EQ(ball.size(), static_cast<size_t>(kClipFrames) * 160 * 120 * 3);
  // The ball moves: the first and a later frame differ; the background corner stays black.
  EXPECT_NE(
      std::vector<uint8_t>(ball.begin(), ball.begin() + 160 * 120 * 3),
      std::vector<uint8_t>(ball.begin() + 10 * 160 * 120 * 3, ball.begin() + 11 * 160 * 120 * 3));
  EXPECT_EQ((pixel(ball, scene, 0, 0, 0)), (std::array<uint8_t, 3>{0, 0, 0}));
  scene.pattern.pattern = Pattern::Smpte;
  const auto bars = render_pattern(scene);
  // SMPTE bars: white (grey) first, then yellow.
  const auto white = pixel(bars, scene, 0, 5, 10);
  EXPECT_GT(white[0], 150);
  EXPECT_EQ(white[0], white[1]);
  EXPECT_EQ(white[1], white[2]);
  const auto yellow = pixel(bars, scene, 0, 160 * 3 / 14, 10);
  EXPECT_GT(yellow[0], 150);
  EXPECT_GT(yellow[1], 150);
  EXPECT_LT(yellow[2], 50);
}

TEST(DemoTasks, EveryAnswerAndPromptIsInTheTemplates) {
  const auto corpus = template_corpus();
  const std::set<std::string> known(corpus.begin(), corpus.end());
  std::mt19937_64 rng(3);
  std::set<QuestionKind> kinds;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const Scene scene = random_scene(seed, 0.3);
    for (const Question& q : questions_for(scene, rng, true)) {
      EXPECT_TRUE(known.count(q.answer)) << q.answer;
      EXPECT_TRUE(known.count(q.prompt)) << q.prompt;
      kinds.insert(q.kind);
    }
  }
  EXPECT_EQ(kinds.size(), 3u);
}

TEST(DemoTasks, StreamWindowsAreDescribedWhenTheyShowMotion) {
  const auto plain = template_corpus();
  const auto stream = template_corpus(true);
  const std::set<std::string> known(stream.begin(), stream.end());
  std::mt19937_64 rng(6);
  std::map<Event, int> described;
  int brief = 0;
  for (uint64_t seed = 0; seed < 600; ++seed) {
    Scene scene = random_scene(seed, 0.0);
    make_stream_window(scene.shape, rng);
    const int visible = scene.shape_visible_frames();
    bool has_description = false;
    for (const Question& q : questions_for(scene, rng, true)) {
      EXPECT_TRUE(known.count(q.answer)) << q.answer;
      if (q.kind == QuestionKind::Describe) has_description = true, ++described[scene.shape.event];
    }
    // A stay of 1 to 7 frames shows no motion to describe; otherwise it is described.
    EXPECT_EQ(has_description, visible == 0 || visible >= kMinDescribedFrames) << "seed " << seed;
    brief += visible > 0 && visible < kMinDescribedFrames ? 1 : 0;
  }
  EXPECT_GT(brief, 10);
  EXPECT_GT(described[Event::Absent], 30);
  EXPECT_GT(described[Event::Passes], 30);
  // Runs without stream windows keep their tokenizer's corpus: the new sentences only with them.
  Scene absent = fixed_scene();
  absent.shape.event = Event::Absent;
  Scene passes = fixed_scene();
  passes.shape.event = Event::Passes;
  EXPECT_EQ(describe(absent), "Only a small dot is shown.");
  EXPECT_EQ(describe(passes), "A green square appears, moves right and disappears.");
  for (const Scene& scene : {absent, passes}) {
    EXPECT_EQ(std::count(plain.begin(), plain.end(), describe(scene)), 0) << describe(scene);
    EXPECT_EQ(std::count(stream.begin(), stream.end(), describe(scene)), 1) << describe(scene);
  }
  EXPECT_EQ(stream.size(), plain.size() + 48 + 1);
}

TEST(DemoTasks, ExtraYesNoQuestionsAreDrawnLikeTheFirst) {
  TrainOptions one, two;
  two.yes_no_per_clip = 2;
  std::mt19937_64 rng_one(8), rng_two(8);
  int yes = 0, asked = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const Scene scene = random_scene(seed, 0.3);
    const std::vector<Question> single = training_questions(scene, rng_one, one);
    const std::vector<Question> doubled = training_questions(scene, rng_two, two);
    // The first draws are questions_for's own; the extra question comes after them.
    ASSERT_EQ(doubled.size(), single.size() + 1);
    EXPECT_EQ(doubled.back().kind, QuestionKind::YesNo);
    for (size_t i = 0; i < single.size() && seed == 0; ++i) {
      EXPECT_EQ(doubled[i].prompt, single[i].prompt);
    }
    for (const Question& q : doubled) {
      if (q.kind != QuestionKind::YesNo) continue;
      yes += q.answer == "Yes." ? 1 : 0;
      ++asked;
    }
  }
  EXPECT_EQ(asked, 600);
  // Both answers are common among them (about half "Yes" at the default own share).
  EXPECT_GT(yes, 180);
  EXPECT_LT(yes, 420);
}

namespace {

// How many of colour and kind the yes/no question about another object changes, by count.
std::map<int, int> other_object_differences(double near_miss_share, double own_share = 0.6) {
  std::mt19937_64 rng(5);
  std::map<int, int> counts;
  for (uint64_t seed = 0; seed < 600; ++seed) {
    const Scene scene = random_scene(seed, 0.0);
    const std::string colour = kColours[scene.shape.colour].name;
    const std::string kind = kShapeNames[static_cast<int>(scene.shape.shape)];
    for (const Question& q : questions_for(scene, rng, false, near_miss_share, own_share)) {
      if (q.kind != QuestionKind::YesNo || q.prompt == yes_no_prompt("white", "ball")) continue;
      int differences = 0;
      differences += q.prompt.find(" " + colour + " ") == std::string::npos ? 1 : 0;
      differences += q.prompt.find(" " + kind + "?") == std::string::npos ? 1 : 0;
      if (differences > 0) {
        EXPECT_EQ(q.answer, "No.") << q.prompt;
      }
      ++counts[differences];
    }
  }
  return counts;
}

}  // namespace

TEST(DemoTasks, NearMissNegativesDifferInColourOrKindOnly) {
  auto plain = other_object_differences(0.0);
  auto near = other_object_differences(1.0);
  // Without near misses about half the other objects differ in both; with them none does.
  EXPECT_GT(plain[2], 50);
  EXPECT_EQ(near[2], 0);
  EXPECT_GT(near[1], 100);
  // The scene's own object is asked about as often either way.
  EXPECT_NEAR(near[0], plain[0], plain[0] * 0.2);
}

TEST(DemoTasks, OwnShareSetsHowOftenTheShownObjectIsAskedAbout) {
  auto usual = other_object_differences(0.0);
  auto fewer = other_object_differences(0.0, 0.3);
  // 600 shape scenes: about 360 questions about the shown object at 0.6, about 180 at 0.3; the
  // rest move to other objects, the white ball keeps its tenth.
  EXPECT_NEAR(usual[0], 360, 45);
  EXPECT_NEAR(fewer[0], 180, 40);
  EXPECT_NEAR(fewer[1] + fewer[2], usual[1] + usual[2] + (usual[0] - fewer[0]), 40);
}

TEST(DemoTasks, DescriptionsFollowTheTemplate) {
  Scene scene = fixed_scene();
  EXPECT_EQ(describe(scene), "A green square moves right.");
  scene.shape.event = Event::Disappears;
  scene.shape.direction = Direction::Up;
  EXPECT_EQ(describe(scene), "A green square moves up and disappears.");
  scene.is_pattern = true;
  scene.pattern.pattern = Pattern::Ball;
  EXPECT_EQ(describe(scene), "A white ball moves on a black background.");
  const Question q{QuestionKind::Detail, "What colour is the small dot?", "Red."};
  EXPECT_TRUE(is_correct(q, "  red"));
  EXPECT_FALSE(is_correct(q, "Green."));
}

TEST(DemoTokenizer, TheEngineLoadsItAndRoundTripsEveryTemplate) {
  const fs::path dir = temp_dir("tokenizer");
  const auto corpus = template_corpus();
  const nlohmann::json json = train_tokenizer(corpus, 2000);
  std::ofstream(dir / "tokenizer.json") << json.dump();
  std::ofstream(dir / "tokenizer_config.json") << tokenizer_config(json).dump();
  const auto tokenizer = Tokenizer::load(dir.string());
  EXPECT_LT(tokenizer->size(), 1000);
  for (const auto& special : kSpecialTokens) {
    const auto ids = tokenizer->encode(special);
    ASSERT_EQ(ids.size(), 1u) << special;
    EXPECT_TRUE(tokenizer->is_special(ids[0]));
  }
  size_t bytes = 0, tokens = 0;
  for (const auto& text : corpus) {
    const auto ids = tokenizer->encode(text);
    EXPECT_EQ(tokenizer->decode(ids), text);
    bytes += text.size();
    tokens += ids.size();
  }
  EXPECT_LT(tokens * 3, bytes) << "the merges should make template words single tokens";
  fs::remove_all(dir);
}

TEST(DemoTraining, LossFallsAndTheCheckpointLoadsInTheEngine) {
  const fs::path dir = temp_dir("train");
  TrainOptions options = tiny_training(dir, 30, 10);
  const TrainResult result = train(options);
  EXPECT_LT(result.last_loss, 0.7 * result.first_loss)
      << "first " << result.first_loss << ", last " << result.last_loss;
  LoadOptions load;
  load.model_dir = dir.string();
  load.dtype = DType::Float32;
  const auto model = Model::load(load);
  EXPECT_EQ(model->info().image_size, 64);
  const Scene scene = random_scene(kEvalSeedBase, 0.0);
  const auto frames = render_scene(scene);
  std::vector<FrameView> views;
  for (int f = 0; f < scene.frames; ++f) {
    views.push_back({frames.data() + static_cast<size_t>(f) * scene.width * scene.height * 3,
                     scene.width, scene.height, scene.width * 3});
  }
  Session session(model);
  GenerationParams params;
  params.temperature = 0;
  params.max_new_tokens = 8;
  const Answer answer = session.answer(model->encode_frames(views, false), kDescribePrompt, params);
  EXPECT_FALSE(answer.output_ids.empty());
  fs::remove_all(dir);
}

TEST(DemoTraining, CurriculumDotsShrinkFromLargeToTheirOwnSize) {
  EXPECT_DOUBLE_EQ(curriculum_dot_size(5, 0, 100), kCurriculumDotSize);
  EXPECT_DOUBLE_EQ(curriculum_dot_size(5, 50, 100), (kCurriculumDotSize + 5) / 2);
  EXPECT_DOUBLE_EQ(curriculum_dot_size(5, 100, 100), 5);
  EXPECT_DOUBLE_EQ(curriculum_dot_size(5, 2000, 100), 5);
  EXPECT_DOUBLE_EQ(curriculum_dot_size(5, 1, 0), 5);  // no curriculum
  // Strictly shrinking over the curriculum.
  for (int64_t step = 1; step < 100; ++step) {
    EXPECT_GT(curriculum_dot_size(4, step, 100), curriculum_dot_size(4, step + 1, 100));
  }
}

// Training must see the computation generation runs: the prompt as a prefill with cross-attention,
// then each answer token as a decode step without it. The engine's own prefill and decode steps
// give the reference logits.
TEST(DemoTraining, TeacherForcingComputesWhatGenerationComputes) {
  torch::NoGradGuard no_grad;
  const Config config = parse_config(demo_config(64, 61, 63).dump(), "demo config");
  SlowFastForCausalLM net(config, torch::TensorOptions().dtype(torch::kFloat32));
  init_random_parameters(*net, 5);
  const std::vector<int64_t> before = {1, 2, 3}, after = {4, 5}, answer_inputs = {6, 7, 8};
  const torch::Tensor fast = torch::randn({8, config.hidden_size});
  const torch::Tensor slow = torch::randn({32, config.hidden_size});
  const std::vector<int64_t> prompt_ids = {1, 2, 3, kImageTokenIndex, 4, 5};
  const TeacherForced forced = teacher_forced(net, prompt_ids, fast, answer_inputs, slow);
  ASSERT_EQ(forced.logits.sizes(), (torch::IntArrayRef{4, 64}));

  auto& backbone = *net->model;
  const torch::Tensor prompt = torch::cat(
      {backbone.embed(torch::tensor(before)), fast, backbone.embed(torch::tensor(after))});
  torch::Tensor is_text = torch::ones({prompt.size(0)}, torch::kBool);
  is_text.narrow(0, 3, 8).fill_(false);
  KVCache cache;
  const torch::Tensor last_state =
      backbone.forward(prompt, is_text, slow, cache).narrow(0, prompt.size(0) - 1, 1);  // [1, H]
  std::vector<torch::Tensor> expected = {net->lm_head->forward(last_state)};
  for (int64_t id : answer_inputs) {
    const torch::Tensor hidden =
        backbone.forward(backbone.embed(torch::tensor({id})), {}, {}, cache);
    expected.push_back(net->lm_head->forward(hidden));
  }
  const torch::Tensor reference = torch::cat(expected);
  // Float32 throughout; the two paths only sum in another order.
  EXPECT_TRUE(torch::allclose(forced.logits, reference, 1e-4, 1e-4))
      << "largest difference " << (forced.logits - reference).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(forced.prompt_state, last_state, 1e-4, 1e-4));
}

// Questions shared among threads must give the step's gradients of one thread, the vision
// tower's included, which reach it only through the language model when the per-frame heads are
// off; and the scene head, which runs between the threads' two phases, must get its own.
TEST(DemoTraining, QuestionsOnTwoThreadsGiveOneThreadsGradients) {
  const fs::path dir = temp_dir("threads");
  TrainOptions options = tiny_training(dir, 1, 1);
  options.clips_per_step = 3;
  options.aux_weight = 0;
  options.lm_aux_weight = 1;
  const auto one = first_step_gradients(options);
  options.question_threads = 2;
  const auto two = first_step_gradients(options);
  ASSERT_EQ(one.size(), two.size());
  int vision = 0, scene_head = 0;
  for (const auto& [name, gradient] : one) {
    ASSERT_TRUE(two.count(name)) << name;
    const torch::Tensor& other = two.at(name);
    // Float32 sums in another order: relative to the tensor's largest gradient.
    const double scale = gradient.abs().max().item<double>();
    EXPECT_LE((gradient - other).abs().max().item<double>(), 1e-4 * scale + 1e-9) << name;
    if (scale > 0 && name.rfind("model.vision_tower", 0) == 0) ++vision;
    if (scale > 0 && name.rfind("scene_head", 0) == 0) ++scene_head;
  }
  EXPECT_GT(vision, 0) << "no gradient reached the vision tower";
  EXPECT_EQ(scene_head, 2) << "the scene head's weight and bias need gradients";
  fs::remove_all(dir);
}

// The committed model's recipe: a warm-up on frames of many scenes, extra scene frames per step
// and the language model's scene head. Its heads are training-only: the engine's strict loader
// must find exactly the model's tensors, and training.json must record the options.
TEST(DemoTraining, SceneFramesAndTheSceneHeadTrainAndStayOutOfTheCheckpoint) {
  const fs::path dir = temp_dir("recipe");
  TrainOptions options = tiny_training(dir, 12, 4);
  options.vision_warmup_steps = 4;
  options.aux_scenes = 8;
  options.aux_scenes_per_step = 4;
  options.lm_aux_weight = 1;
  options.dot_curriculum_steps = 6;
  const TrainResult result = train(options);
  EXPECT_TRUE(std::isfinite(result.last_loss));
  EXPECT_GT(result.last_loss, 0);
  std::ifstream recorded(dir / "training.json");
  const auto training = nlohmann::json::parse(recorded);
  EXPECT_EQ(training.at("aux_scenes"), 8);
  EXPECT_EQ(training.at("aux_scenes_per_step"), 4);
  EXPECT_EQ(training.at("lm_aux_weight"), 1.0);
  EXPECT_EQ(training.at("dot_curriculum_steps"), 6);
  LoadOptions load;
  load.model_dir = dir.string();
  load.dtype = DType::Float32;
  EXPECT_NO_THROW(Model::load(load));
  fs::remove_all(dir);
}
