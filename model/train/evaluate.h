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

// Writes a held-out set for slowfast-cli and pipeline evaluation: clip_NNNN.npy (uint8
// [T, H, W, 3]), clip_NNNN.rgb (the same frames raw, for rawvideoparse) and cases.jsonl.
// Linear probe of the vision features: how well each scene field (shape colour, shape, direction,
// dot colour) is read from a clip's averaged tokens by least squares (3/4 fit, 1/4 held out).
nlohmann::json probe_features(const std::string& model_dir, int count, uint64_t first_seed);

void write_eval_set(const std::string& dir, int count, uint64_t first_seed, double pattern_share);

}  // namespace slowfast::demo
