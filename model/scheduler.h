// One model's shared server: every request in the process on that model goes through it, so N
// streams cost one model and decode together instead of one answer at a time.
//
// Two threads, started by the first request (they inherit its thread's priority):
// - the encode thread runs vision calls of at most `max_frames` frames, taken from every waiting
//   caller, one frame from each before more from the oldest, so no stream's frame waits behind
//   another stream's long clip, and never behind anyone's answer;
// - the decode thread admits waiting answers (oldest first, up to `max_batch` at a time), runs
//   each one's prefill, then steps every active answer together: one decoder pass per step reads
//   each weight once for all of them. Answers join and leave between steps, each with its own KV
//   cache, sampling parameters and generator, so an answer's ids do not depend on the batch.
//
// Callers block in encode() and generate(); token callbacks and the abort predicate run on the
// caller's own thread, once per token exactly as generate() alone calls them, and an answer takes
// no further step until its caller has seen its last token. One caller's abort ends its answer at
// the next step without touching the others.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "text/generate.h"
#include "text/qwen2.h"

namespace slowfast {

// Counters since the scheduler started, for tests and benchmarks.
struct SchedulerStats {
  uint64_t vision_calls = 0;
  uint64_t frames_encoded = 0;
  uint64_t prefills = 0;
  uint64_t decode_steps = 0;
  uint64_t sequence_steps = 0;  // the sum over decode steps of the answers each one advanced
  int64_t largest_batch = 0;    // the most answers one decode step advanced
  uint64_t aborted = 0;
  // Time the scheduler's thread spent in prefills and in decode steps: tokens per second of
  // decoding apart from the prefills, which are compute-bound and cost as much in any batch.
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

class Scheduler {
 public:
  // pixels [T, 3, S, S] with T <= max_frames -> features [T, N, H]: one vision call.
  using VisionCall = std::function<torch::Tensor(const torch::Tensor& pixels)>;

  // decoder and lm_head_weight ([V, H]) must outlive the scheduler.
  Scheduler(Qwen2ModelImpl& decoder, torch::Tensor lm_head_weight, VisionCall vision,
            int64_t max_batch, int64_t max_frames);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // pixels [T, 3, S, S] -> [T, N, H], in vision calls shared with other callers' frames.
  torch::Tensor encode(const torch::Tensor& pixels);

  // generate() of text/generate.h, decoded together with every other active answer. The prompt
  // and options are validated on the calling thread; `cache` is used until this returns.
  GenerationResult generate(const Prompt& prompt, const GenerationOptions& options, KVCache& cache,
                            const TokenIdCallback& on_token = nullptr,
                            const StopPredicate& should_abort = nullptr);

  int64_t max_batch() const { return max_batch_; }
  SchedulerStats stats() const;

 private:
  struct EncodeRequest;
  struct Sequence;

  void start_threads();
  void encode_loop();
  void decode_loop();
  // Under mutex_: hands the ids chosen since the last publish to the caller, who then decides
  // whether the answer goes on; a finished answer leaves the active set.
  void publish(Sequence& sequence);
  void fail(Sequence& sequence, std::exception_ptr error);

  Qwen2ModelImpl& decoder_;
  const torch::Tensor lm_head_weight_;
  const VisionCall vision_;
  const int64_t max_batch_;
  const int64_t max_frames_;

  mutable std::mutex mutex_;
  std::condition_variable encode_wake_;   // the encode thread: frames queued, or stopping
  std::condition_variable decode_wake_;   // the decode thread: answers queued or acknowledged
  std::condition_variable callers_wake_;  // callers: results ready
  std::condition_variable vision_idle_;   // the decode thread, paused: a vision call ended
  std::deque<std::shared_ptr<EncodeRequest>> encode_queue_;
  std::deque<std::shared_ptr<Sequence>> waiting_;  // not admitted yet, oldest first
  std::vector<std::shared_ptr<Sequence>> active_;  // prefilled, not finished, oldest first
  SchedulerStats stats_;
  bool stopping_ = false;
  // Vision calls running (0 or 1). Written under mutex_; read without it by the decode thread's
  // loop gate, which pauses decoding between loops while a frame is encoded.
  std::atomic<int> vision_running_{0};
  std::once_flag started_;
  std::thread encode_thread_;
  std::thread decode_thread_;
};

}  // namespace slowfast
