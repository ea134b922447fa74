// Held-out evaluation of the demo model through the public engine API (the same calls
// slowfast-cli makes), on clips drawn from seeds the trainer never uses.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "train/scene.h"

namespace slowfast::demo {

struct EvalOptions {
  std::string model_dir;
  int count = 200;
  uint64_t first_seed = kEvalSeedBase;
  double pattern_share = 0.25;
  bool zero_slow_tokens = false;  // the ablation: cross-attention memory all zeros
  bool verbose = false;           // print every wrong answer
  bool late_events = false;       // every event moved into the window's end (move_event_late)
};

// {"describe": {"right": r, "asked": n, "accuracy": a}, "yes-no": ..., "detail": ...}
nlohmann::json evaluate(const EvalOptions& options);

struct AlertOptions {
  std::string model_dir;
  int count = 100;
  uint64_t first_seed = kAlertSeedBase;
  bool verbose = false;  // print every wrong answer
};

// The alert set: on each alert_scene clip, every window (a hop apart) is asked whether the
// clip's object is there ("own": the kPresentTailFrames rule decides) and whether an object that
// differs from it in colour or kind only is there ("other": always no).
// {"own": {"right", "asked", "accuracy"}, "other": ..., "clips": ...}; a clip is right when all
// its answers are, which is when alerts on it raise and clear in the right windows.
nlohmann::json evaluate_alerts(const AlertOptions& options);

// Linear probe of the vision features: how well each scene field (shape colour, shape, direction,
// dot colour) is read from a clip's averaged tokens by least squares (3/4 fit, 1/4 held out).
nlohmann::json probe_features(const std::string& model_dir, int count, uint64_t first_seed);

// Writes a held-out set for slowfast-cli and pipeline evaluation: clip_NNNN.npy (uint8
// [T, H, W, 3]), clip_NNNN.rgb (the same frames raw, for rawvideoparse) and cases.jsonl.
void write_eval_set(const std::string& dir, int count, uint64_t first_seed, double pattern_share);

}  // namespace slowfast::demo
