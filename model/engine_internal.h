// Engine internals shared by engine.cpp and slowfast-cli (which dumps intermediate tensors).
// Not part of the public API: callers outside model/ use slowfast.h only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "scheduler.h"
#include "slowfast.h"

namespace slowfast {

struct FrameFeatures::Impl {
  torch::Tensor pooled;    // [n, H]: the frame's tokens after mm_video_pooling_stride (video path)
  torch::Tensor unpooled;  // [N, H]: kept only on request; a one-frame window (image) needs it
};

// Intermediate tensors of one answer, for --dump and parity tests. All float32 on the CPU.
struct Trace {
  torch::Tensor fast_tokens;     // [F, H]
  torch::Tensor slow_tokens;     // [M, H]
  torch::Tensor prefill_logits;  // [V] at the last prompt position (V = tokenizer size)
};

// Pixels [T, 3, S, S] float32 from uint8 RGB frames [T, H, W, 3].
torch::Tensor preprocess_frames_tensor(const Model& model, const torch::Tensor& frames);
// Projector output before pooling: [T, 3, S, S] -> [T, N, H] in the model's dtype and device.
torch::Tensor vision_features(const Model& model, const torch::Tensor& pixels);
// Per-frame features from vision_features: spatial pooling of each frame (section 5 step 1).
std::vector<FrameFeatures> frame_features(const Model& model, const torch::Tensor& features,
                                          bool keep_unpooled);

// The model's scheduler counters (scheduler.h): what was batched.
SchedulerStats scheduler_stats(const Model& model);
// Bytes held by a session's KV cache (its longest answer so far).
int64_t session_cache_bytes(Session& session);

// Ablations for tests that prove each input matters.
enum class Ablation {
  None,
  ZeroSlowTokens,    // the cross-attention memory is all zeros
  NoCrossAttention,  // the hybrid layers run as plain Qwen2 layers
};

// Session::answer with a trace of the intermediate tensors.
Answer answer_with_trace(Session& session, const std::vector<FrameFeatures>& window,
                         const std::string& question, const GenerationParams& params,
                         const TokenCallback& on_token, const AbortPredicate& should_abort,
                         Trace* trace, Ablation ablation = Ablation::None);

}  // namespace slowfast
