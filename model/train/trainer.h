// Trains the demo model with libtorch autograd through the engine's own modules
// (SlowFastForCausalLM: ConvNeXt, projector, slow/fast pooling, Qwen2 with hybrid layers) and
// writes it as a Hugging Face checkpoint directory the engine loads like the release.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "slowfast_model.h"
#include "train/scene.h"
#include "train/tasks.h"

namespace slowfast::demo {

struct TrainOptions {
  std::string out_dir;
  // Start from this checkpoint directory (a demo model written by an earlier run) instead of a
  // fresh initialisation; its tokenizer must equal the one this run trains (it is deterministic).
  std::string init_from;
  int64_t steps = 1200;
  int clips_per_step = 6;
  double learning_rate = 2e-3;
  double vision_lr_scale = 2;  // vision tower and projector learn this much faster
  // Weight of the penalty on the visual tokens' common mean (see Trainer::step_loss).
  double common_mode_penalty = 1.0;
  // Weight of the auxiliary per-frame loss: linear heads on each frame's visual tokens read the
  // shape's colour, kind and centre, the dot's colour and the videotestsrc pattern. The heads
  // are training-only (not in the checkpoint); they make the vision tower keep what the
  // questions need from the first steps, instead of waiting for the language model's gradient.
  double aux_weight = 1.0;
  // Weight of a training-only linear head on the language model's final state at the end of
  // every prompt, which must name the clip's direction of motion, event, colours, shape and
  // pattern. Every question, not only the description, then teaches the language model to read
  // the motion across the fast tokens (the description's one direction word is a sparse signal).
  double lm_aux_weight = 0;
  // The first this many steps train only the vision tower and projector, on the auxiliary loss:
  // cheap steps (no language model) that give the questions informative visual tokens.
  int64_t vision_warmup_steps = 0;
  // Scenes (two frames each) of a warm-up step instead of whole clips; 0 keeps the clips. The
  // labels repeat in every frame of a clip, so many scenes teach the vision tower much faster.
  int aux_scenes = 0;
  // Scenes (two frames each) added to every later step for the auxiliary loss alone.
  int aux_scenes_per_step = 0;
  // Training scenes' dots start at kCurriculumDotSize and shrink linearly to their own size over
  // this many steps (0: no curriculum). A fresh vision tower never picks up a 4-6 unit dot (its
  // per-frame head stays at chance for 400 steps, whatever the learning rate or tower width),
  // while a dot as large as the shapes is learned within 100 steps; the detectors then follow it
  // down as it shrinks.
  int64_t dot_curriculum_steps = 0;
  uint64_t seed = 1;
  // One intra-op thread: the model's operations are tiny, and OpenMP's barriers cost more than
  // they save (up to 8x slower with two threads on a busy machine).
  int threads = 1;
  // Threads that share a step's questions, each running the forward and the backward of its
  // share (see Trainer::answer_on_threads). Gradients equal one thread's up to float rounding.
  int question_threads = 1;
  double pattern_share = 0.25;  // share of videotestsrc clips among the training clips
  int patterns_pool = 8;        // pre-rendered clips per videotestsrc pattern
  // Render each pattern's clips at every frame size in turn rather than at random sizes. Scaled
  // down to the tower's input a pattern looks different at each size: with random sizes the
  // circular pattern had no 160x120 clip, and the model called it a pinwheel at that size.
  bool pattern_sizes_in_turn = false;
  // Share of the yes/no questions about an object not shown that ask about a near miss: the
  // shown shape in another colour, or another shape in its colour (see questions_for). Without
  // them over half the negatives differ in both. Meant to teach the binding of colour to kind;
  // in three runs it did not remove the false "Yes" to the shown kind in another colour.
  double yes_no_near_miss = 0;
  // Share of a shape scene's yes/no questions about its own object (see questions_for). Most of
  // those are answered "Yes", so this sets the share of "Yes" answers: about 0.54 at 0.6.
  double yes_no_own_share = 0.6;
  // Share of the training scenes with an event whose event is moved late in the window
  // (move_event_late in scene.h). The yes/no answer is about the window's end
  // (Scene::shape_present_at_end), and an alert must follow within one hop, but without these no
  // training clip had its object come or go in the last 16 frames: a red circle in view for the
  // last 12 frames of a window was "No".
  double late_events = 0;
  // Share of the training shape scenes made windows cut from a stream (make_stream_window in
  // scene.h): the shape comes, goes, passes through or is out of view all along, at any frame.
  // random_scene's shape is in view for 21 frames or more of every clip, so no clip taught "No"
  // about a window without it, nor a stay that begins and ends in the window, both of which a
  // stream's windows show; the alert set (slowfast-demo alerts) measures these windows.
  double stream_windows = 0;
  // Yes/no questions asked about each clip (each drawn as questions_for draws its one). The
  // yes/no answer is one token against a description's eight, and its teacher-forced accuracy
  // stopped rising at about 87% from step 3,000 of a 5,500-step run while the descriptions
  // still improved.
  int yes_no_per_clip = 1;
  // Detail questions are asked with the fast tokens zeroed this often, so the model learns to
  // read fine detail from the slow tokens (the cross-attention memory) as the architecture
  // intends, instead of from the heavily pooled fast tokens.
  double detail_fast_dropout = 0.75;
  // Frames per training clip, taken evenly from the 64 rendered ones (random phase). The window
  // keeps its duration and its 8 fast tokens (adaptive pooling below min_fast_frames), with a
  // quarter of the vision tower's cost; the slow tokens are fewer but show the same frames.
  int train_frames = 16;
  // Every this many steps the clips keep all their frames, so the model also learns the exact
  // token layout of a full window (64 frames: 256 slow tokens, fast tokens of 8 frames each).
  int full_window_every = 4;
  int log_every = 10;
};

// Half extent (units of the 128 square) of a training dot at the curriculum's start.
constexpr double kCurriculumDotSize = 20;
// The half extent a dot of half extent `drawn` has at training step `step` (1-based) of a
// curriculum of `curriculum_steps` steps: kCurriculumDotSize at the start, `drawn` from its end on.
double curriculum_dot_size(double drawn, int64_t step, int64_t curriculum_steps);

// One teacher-forced pass computing what generation computes: the prompt (`prompt_ids` with the
// fast tokens [F, H] at its image position; embed_prompt) as a prefill with cross-attention to
// `slow` [M, H], then `answer_inputs` as if fed one decode step each, without cross-attention.
struct TeacherForced {
  torch::Tensor logits;        // [answer_inputs + 1, V]: predictions of every answer token
  torch::Tensor prompt_state;  // [1, H]: the final hidden state of the prompt's last token
};
TeacherForced teacher_forced(SlowFastForCausalLM& net, const std::vector<int64_t>& prompt_ids,
                             const torch::Tensor& fast, const std::vector<int64_t>& answer_inputs,
                             const torch::Tensor& slow);

// The demo config (sizes in docs/model.md) for a tokenizer of `vocab_size` tokens.
nlohmann::json demo_config(int64_t vocab_size, int64_t endoftext_id, int64_t im_end_id);

// The questions a training step asks about a clip: questions_for's, with paraphrased prompts,
// and options.yes_no_per_clip - 1 more yes/no questions drawn the same way.
std::vector<Question> training_questions(const Scene& scene, std::mt19937_64& rng,
                                         const TrainOptions& options);

struct TrainResult {
  double first_loss = 0;  // mean loss of the first log interval
  double last_loss = 0;   // mean loss of the last one
  double seconds = 0;
};
TrainResult train(const TrainOptions& options);

// The gradients of the first training step of `options` (a fresh model, no warm-up step), by
// parameter name, the training-only heads' included. Writes the tokenizer to options.out_dir.
std::map<std::string, torch::Tensor> first_step_gradients(const TrainOptions& options);

}  // namespace slowfast::demo
