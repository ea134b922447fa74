#include "scheduler.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <utility>

#include "layers/kernel_threads.h"
#include "slowfast.h"
#include "util/clock.h"

namespace slowfast {
namespace {

// How long a decode step waits for answers whose callers are still handling their last token:
// long enough for a woken thread to be scheduled on a busy machine (with 2 ms, callers woken late
// missed steps, and two streams fell into alternate steps of one answer each), and paid once only
// for a caller blocked in its callback (a paused pipeline): it is not waited for again until it
// comes back.
constexpr auto kAcknowledgeGrace = std::chrono::milliseconds(20);
// How often a caller whose answer still waits for a slot asks its abort predicate: a flush or a
// state change must not wait for other streams' answers to finish.
constexpr auto kWaitingAbortPoll = std::chrono::milliseconds(20);

}  // namespace

struct Scheduler::EncodeRequest {
  torch::Tensor pixels;                // [T, 3, S, S]
  int64_t taken = 0;                   // frames given to vision calls so far
  int64_t encoded = 0;                 // frames whose features are back
  std::vector<torch::Tensor> results;  // features of consecutive frames, in order
  std::exception_ptr error;
  bool done = false;
};

struct Scheduler::Sequence {
  std::unique_ptr<Generation> generation;
  std::vector<int64_t> fresh;  // ids chosen and not yet taken by the caller
  size_t published = 0;        // ids handed to the caller so far
  bool acknowledged = true;    // the caller has seen every published id (a step may run)
  bool lagging = false;        // missed a step's grace: later steps do not wait for it
  bool abort = false;          // the caller's predicate said stop
  bool done = false;
  std::exception_ptr error;
};

Scheduler::Scheduler(Qwen2ModelImpl& decoder, torch::Tensor lm_head_weight, VisionCall vision,
                     int64_t max_batch, int64_t max_frames)
    : decoder_(decoder),
      lm_head_weight_(std::move(lm_head_weight)),
      vision_(std::move(vision)),
      max_batch_(max_batch),
      max_frames_(max_frames) {
  if (max_batch_ < 1) {
    throw Error("max_batch " + std::to_string(max_batch_) + " must be at least 1");
  }
  if (max_frames_ < 1) {
    throw Error("the vision batch " + std::to_string(max_frames_) + " must be at least 1");
  }
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  encode_wake_.notify_all();
  decode_wake_.notify_all();
  if (encode_thread_.joinable()) encode_thread_.join();
  if (decode_thread_.joinable()) decode_thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Scheduler::start_threads() {
  std::call_once(started_, [this] {
    // Both or neither: a failed start leaves nothing running, and the next request retries.
    std::thread encode([this] { encode_loop(); });
    std::thread decode;
    try {
      decode = std::thread([this] { decode_loop(); });
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
      }
      encode_wake_.notify_all();
      encode.join();
      stopping_ = false;
      throw;
    }
    encode_thread_ = std::move(encode);
    decode_thread_ = std::move(decode);
  });
}

// ---- Frames ---------------------------------------------------------------------------------

torch::Tensor Scheduler::encode(const torch::Tensor& pixels) {
  // Checked here, so that one caller's bad input never fails the others' shared vision call.
  if (pixels.dim() != 4 || pixels.size(1) != 3 || pixels.size(2) != pixels.size(3)) {
    throw Error("encode: pixels must be [T, 3, S, S], got " + c10::str(pixels.sizes()));
  }
  if (pixels.size(0) == 0) return vision_(pixels);
  start_threads();
  auto request = std::make_shared<EncodeRequest>();
  request->pixels = pixels;
  std::unique_lock<std::mutex> lock(mutex_);
  encode_queue_.push_back(request);
  encode_wake_.notify_one();
  callers_wake_.wait(lock, [&] { return request->done; });
  if (request->error) std::rethrow_exception(request->error);
  return request->results.size() == 1 ? request->results.front() : torch::cat(request->results);
}

void Scheduler::encode_loop() {
  struct Slice {
    std::shared_ptr<EncodeRequest> request;
    int64_t begin, count;
  };
  while (true) {
    std::vector<Slice> slices;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      encode_wake_.wait(lock, [&] { return stopping_ || !encode_queue_.empty(); });
      if (encode_queue_.empty()) return;  // stopping
      // One frame from each waiting caller, oldest first, then the rest from the oldest. A
      // caller's slices are listed in frame order, so its results are appended in order.
      int64_t room = max_frames_;
      for (int pass = 0; pass < 2 && room > 0; ++pass) {
        for (const auto& request : encode_queue_) {
          const int64_t left = request->pixels.size(0) - request->taken;
          const int64_t count = std::min(room, pass == 0 ? std::min<int64_t>(1, left) : left);
          if (count <= 0) continue;
          if (!slices.empty() && slices.back().request == request) {
            slices.back().count += count;
          } else {
            slices.push_back({request, request->taken, count});
          }
          request->taken += count;
          room -= count;
          if (room == 0) break;
        }
      }
      vision_running_.store(1);
    }

    std::vector<torch::Tensor> results;
    std::exception_ptr error;
    try {
      std::vector<torch::Tensor> parts;
      int64_t total = 0;
      for (const Slice& slice : slices) {
        parts.push_back(slice.request->pixels.narrow(0, slice.begin, slice.count));
        total += slice.count;
      }
      const torch::Tensor features = vision_(parts.size() == 1 ? parts.front() : torch::cat(parts));
      if (!features.defined() || features.dim() < 1 || features.size(0) != total) {
        throw Error("the vision tower returned features of " +
                    (features.defined() ? c10::str(features.sizes()) : std::string("nothing")) +
                    " for " + std::to_string(total) + " frames");
      }
      int64_t offset = 0;
      for (const Slice& slice : slices) {
        results.push_back(features.narrow(0, offset, slice.count));
        offset += slice.count;
      }
    } catch (...) {
      error = std::current_exception();
    }

    std::lock_guard<std::mutex> lock(mutex_);
    vision_running_.store(0);
    vision_idle_.notify_all();
    stats_.vision_calls++;
    for (size_t i = 0; i < slices.size(); ++i) {
      EncodeRequest& request = *slices[i].request;
      if (error) {
        request.error = error;
        request.done = true;
      } else if (!request.done) {
        request.results.push_back(results[i]);
        request.encoded += slices[i].count;
        request.done = request.encoded == request.pixels.size(0);
        stats_.frames_encoded += slices[i].count;
      }
    }
    encode_queue_.erase(std::remove_if(encode_queue_.begin(), encode_queue_.end(),
                                       [](const auto& request) { return request->done; }),
                        encode_queue_.end());
    callers_wake_.notify_all();
  }
}

// ---- Answers --------------------------------------------------------------------------------

GenerationResult Scheduler::generate(const Prompt& prompt, const GenerationOptions& options,
                                     KVCache& cache, const TokenIdCallback& on_token,
                                     const StopPredicate& should_abort) {
  auto sequence = std::make_shared<Sequence>();
  sequence->generation =
      std::make_unique<Generation>(decoder_, lm_head_weight_, prompt, options, cache);
  start_threads();
  std::unique_lock<std::mutex> lock(mutex_);
  waiting_.push_back(sequence);
  decode_wake_.notify_one();
  std::exception_ptr callback_error;
  // Until admitted, the abort predicate is asked every kWaitingAbortPoll: an answer aborted
  // before its prefill leaves the queue without one (no ids, aborted).
  while (!sequence->done && sequence->published == 0 && sequence->fresh.empty()) {
    const bool admitted = std::find(waiting_.begin(), waiting_.end(), sequence) == waiting_.end();
    if (admitted) break;
    if (callers_wake_.wait_for(lock, kWaitingAbortPoll,
                               [&] { return sequence->done || !sequence->fresh.empty(); })) {
      break;
    }
    if (!should_abort) continue;
    lock.unlock();
    // A predicate that throws stops the answer too: it must not stay queued without its caller.
    std::exception_ptr predicate_error;
    bool stop = true;
    try {
      stop = should_abort();
    } catch (...) {
      predicate_error = std::current_exception();
    }
    lock.lock();
    const auto queued = std::find(waiting_.begin(), waiting_.end(), sequence);
    if (stop && queued != waiting_.end()) {
      waiting_.erase(queued);
      stats_.aborted++;
      if (predicate_error) std::rethrow_exception(predicate_error);
      sequence->generation->abort();
      return sequence->generation->take_result();
    }
    // Admitted meanwhile: it stops at its first step and rethrows, as after a throwing callback.
    if (predicate_error) callback_error = predicate_error;
  }
  while (true) {
    callers_wake_.wait(lock, [&] { return sequence->done || !sequence->fresh.empty(); });
    const std::vector<int64_t> fresh = std::exchange(sequence->fresh, {});
    const bool done = sequence->done;
    lock.unlock();
    bool stop = false;
    try {
      if (on_token && !callback_error) {
        for (const int64_t id : fresh) on_token(id);
      }
      // As generate(): asked once before every further step.
      if (!done && !callback_error) stop = should_abort && should_abort();
    } catch (...) {
      callback_error = std::current_exception();
    }
    lock.lock();
    if (done) break;
    sequence->abort = stop || callback_error != nullptr;
    sequence->acknowledged = true;
    sequence->lagging = false;
    decode_wake_.notify_one();
  }
  if (sequence->error) std::rethrow_exception(sequence->error);
  if (callback_error) std::rethrow_exception(callback_error);
  return sequence->generation->take_result();
}

void Scheduler::publish(Sequence& sequence) {
  const std::vector<int64_t>& ids = sequence.generation->result().output_ids;
  sequence.fresh.insert(sequence.fresh.end(), ids.begin() + sequence.published, ids.end());
  sequence.published = ids.size();
  sequence.acknowledged = false;
  sequence.done = sequence.generation->finished();
}

void Scheduler::fail(Sequence& sequence, std::exception_ptr error) {
  sequence.error = std::move(error);
  sequence.done = true;
}

void Scheduler::decode_loop() {
  // Frames first: a decode step or prefill waits between its loops while a vision call runs, so
  // the call has every core (a stream's frame-encode latency stays near its latency alone).
  set_loop_gate([this] {
    if (vision_running_.load() == 0) return;
    std::unique_lock<std::mutex> lock(mutex_);
    vision_idle_.wait(lock, [&] { return stopping_ || vision_running_.load() == 0; });
  });
  const auto steppable = [](const std::shared_ptr<Sequence>& sequence) {
    return sequence->acknowledged && !sequence->done;
  };
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    decode_wake_.wait(lock, [&] {
      return stopping_ ||
             (!waiting_.empty() && static_cast<int64_t>(active_.size()) < max_batch_) ||
             std::any_of(active_.begin(), active_.end(), steppable);
    });
    if (stopping_ && waiting_.empty() && active_.empty()) return;

    // New answers, oldest first, while there is room: each one's prefill. While others are
    // decoding, one prefill per step, so they pause for one prefill at a time.
    const bool others_decoding = !active_.empty();
    while (!waiting_.empty() && static_cast<int64_t>(active_.size()) < max_batch_) {
      std::shared_ptr<Sequence> sequence = waiting_.front();
      waiting_.pop_front();
      lock.unlock();
      std::exception_ptr error;
      const auto prefill_start = Clock::now();
      try {
        sequence->generation->prefill();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      stats_.prefills++;
      stats_.prefill_seconds += seconds_since(prefill_start);
      if (error) {
        fail(*sequence, error);
      } else {
        publish(*sequence);
        if (!sequence->done) active_.push_back(sequence);
      }
      callers_wake_.notify_all();
      if (others_decoding) break;
    }

    // Keep the batch whole: the callers of the last step get a moment to take their tokens.
    decode_wake_.wait_for(lock, kAcknowledgeGrace, [&] {
      return stopping_ || std::all_of(active_.begin(), active_.end(), [](const auto& sequence) {
               return sequence->acknowledged || sequence->lagging;
             });
    });
    for (const auto& sequence : active_) sequence->lagging = !sequence->acknowledged;

    std::vector<std::shared_ptr<Sequence>> batch;
    for (const auto& sequence : active_) {
      if (!steppable(sequence)) continue;
      if (sequence->abort) {
        sequence->generation->abort();
        sequence->done = true;
        stats_.aborted++;
        continue;
      }
      batch.push_back(sequence);
      sequence->acknowledged = false;
    }
    if (!batch.empty()) {
      std::vector<Generation*> generations;
      for (const auto& sequence : batch) generations.push_back(sequence->generation.get());
      lock.unlock();
      std::exception_ptr error;
      const auto step_start = Clock::now();
      try {
        decode_step(decoder_, lm_head_weight_, generations);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      stats_.decode_steps++;
      stats_.decode_seconds += seconds_since(step_start);
      stats_.sequence_steps += batch.size();
      stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, batch.size());
      for (const auto& sequence : batch) {
        if (error) {
          fail(*sequence, error);
        } else {
          publish(*sequence);
        }
      }
    }
    active_.erase(std::remove_if(active_.begin(), active_.end(),
                                 [](const auto& sequence) { return sequence->done; }),
                  active_.end());
    callers_wake_.notify_all();
  }
}

}  // namespace slowfast
