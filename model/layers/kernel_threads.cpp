#include "layers/kernel_threads.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>

namespace slowfast {
namespace {

using Clock = std::chrono::steady_clock;

// How long an idle worker spins before it sleeps: longer than the gaps between a decode step's
// loops and between its steps (0.2 ms measured 2-10% slower steps than 1 or 5 ms), short enough
// that a worker left spinning after the last step costs the other threads little.
constexpr auto kSpinBeforeSleep = std::chrono::milliseconds(1);

// One worker: whenever `assigned` moves to a new loop number it claims that loop's chunk `chunk`
// by setting `claimed` to the number, runs it and sets `finished` to it. The caller claims the
// chunk itself when the worker has not by the time the caller's own chunk is done (the worker
// was asleep or had no core), so a loop never waits for a thread that is not running.
struct Worker {
  std::atomic<uint64_t> assigned{0};
  std::atomic<uint64_t> claimed{0};
  std::atomic<uint64_t> finished{0};
  std::atomic<bool> sleeping{false};
  std::mutex mutex;
  std::condition_variable wake;
  int64_t chunk = 0;
  std::exception_ptr error;
};

// True on a thread while it runs a chunk: a loop started from inside one runs inline.
thread_local bool in_chunk = false;
thread_local std::function<void()> loop_gate;

class KernelThreads {
 public:
  void run(int64_t begin, int64_t end, int64_t grain,
           const std::function<void(int64_t, int64_t)>& body) {
    if (end <= begin) return;
    if (!in_chunk) pass_loop_gate();
    const int64_t threads = std::max(1, at::get_num_threads());
    const int64_t chunks =
        std::min(threads, (end - begin + grain - 1) / std::max<int64_t>(1, grain));
    bool expected = false;
    if (chunks <= 1 || in_chunk || !busy_.compare_exchange_strong(expected, true)) {
      run_inline(begin, end, body);
      return;
    }
    // busy_ is ours until the end of the loop: the loop's fields stay as set while workers read
    // them, and workers are added only here.
    struct Release {
      std::atomic<bool>& busy;
      ~Release() { busy.store(false, std::memory_order_release); }
    } release{busy_};
    try {
      while (static_cast<int64_t>(workers_.size()) < chunks - 1) add_worker();
    } catch (...) {
      run_inline(begin, end, body);  // no thread could be started: run the loop here
      return;
    }
    body_ = &body;
    begin_ = begin;
    end_ = end;
    chunk_size_ = (end - begin + chunks - 1) / chunks;
    const uint64_t loop = ++loops_;
    for (int64_t w = 0; w < chunks - 1; ++w) {
      Worker& worker = *workers_[w];
      worker.chunk = w + 1;
      worker.error = nullptr;
      worker.assigned.store(loop, std::memory_order_seq_cst);
      if (worker.sleeping.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(worker.mutex);
        worker.wake.notify_one();
      }
    }
    std::exception_ptr error;
    try {
      run_chunk(0, body);
    } catch (...) {
      error = std::current_exception();
    }
    for (int64_t w = 0; w < chunks - 1; ++w) {
      Worker& worker = *workers_[w];
      if (claim(worker, loop)) {
        try {
          run_chunk(w + 1, body);
        } catch (...) {
          if (!error) error = std::current_exception();
        }
        continue;
      }
      // Yielding now and then: on a machine with more runnable threads than cores the worker
      // may be waiting for this core.
      for (int spins = 1; worker.finished.load(std::memory_order_acquire) != loop; ++spins) {
        if (spins % 1024 == 0)
          std::this_thread::yield();
        else
          _mm_pause();
      }
      if (!error && worker.error) error = worker.error;
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  static void run_inline(int64_t begin, int64_t end,
                         const std::function<void(int64_t, int64_t)>& body) {
    const bool outer = in_chunk;
    in_chunk = true;
    try {
      body(begin, end);
    } catch (...) {
      in_chunk = outer;
      throw;
    }
    in_chunk = outer;
  }

  // Whoever sets `claimed` to `loop` first runs the worker's chunk of that loop. Never a loop
  // before the last one claimed: a worker delayed after reading `assigned` may try a loop whose
  // chunk the caller ran long ago, and whose body is gone.
  static bool claim(Worker& worker, uint64_t loop) {
    uint64_t previous = worker.claimed.load(std::memory_order_acquire);
    return previous < loop && worker.claimed.compare_exchange_strong(previous, loop);
  }

  void run_chunk(int64_t chunk, const std::function<void(int64_t, int64_t)>& body) {
    const int64_t first = begin_ + chunk * chunk_size_;
    const int64_t last = std::min(end_, first + chunk_size_);
    if (first < last) run_inline(first, last, body);
  }

  // Started from the calling thread, so a worker inherits its scheduling priority (the element
  // lowers its model threads' priority below the video's).
  void add_worker() {
    auto worker = std::make_unique<Worker>();
    Worker* raw = worker.get();
    std::thread([this, raw] { work(*raw); }).detach();
    workers_.push_back(std::move(worker));
  }

  void work(Worker& worker) {
    uint64_t seen = 0;
    // A worker whose last chunk was run by its caller came too late: the cores are busy with
    // other threads, and spinning would only take time from them. It sleeps at once instead.
    bool late = false;
    while (true) {
      const auto idle_since = Clock::now();
      const auto spin = late ? Clock::duration::zero() : Clock::duration(kSpinBeforeSleep);
      uint64_t loop;
      int spins = 0;
      while ((loop = worker.assigned.load(std::memory_order_acquire)) == seen) {
        _mm_pause();
        if (++spins % 64 != 0 || Clock::now() - idle_since < spin) continue;
        std::unique_lock<std::mutex> lock(worker.mutex);
        worker.sleeping.store(true, std::memory_order_seq_cst);
        worker.wake.wait(lock,
                         [&] { return worker.assigned.load(std::memory_order_seq_cst) != seen; });
        worker.sleeping.store(false, std::memory_order_relaxed);
      }
      seen = loop;
      late = !claim(worker, loop);
      if (late) continue;
      try {
        run_chunk(worker.chunk, *body_);
      } catch (...) {
        worker.error = std::current_exception();
      }
      worker.finished.store(loop, std::memory_order_release);
    }
  }

  std::atomic<bool> busy_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  uint64_t loops_ = 0;
  // The current loop; written by its caller before the workers are assigned.
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t begin_ = 0, end_ = 0, chunk_size_ = 1;
};

}  // namespace

void parallel_rows(int64_t rows, int64_t begin, int64_t end, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& body) {
  if (rows > kKernelThreadRows) {
    at::parallel_for(begin, end, grain, body);
  } else {
    parallel_chunks(begin, end, grain, body);
  }
}

void set_loop_gate(std::function<void()> gate) {
  loop_gate = std::move(gate);
}

void pass_loop_gate() {
  if (loop_gate) loop_gate();
}

void parallel_chunks(int64_t begin, int64_t end, int64_t grain,
                     const std::function<void(int64_t, int64_t)>& body) {
  // Never destroyed: its detached workers wait in it until the process ends.
  static KernelThreads* const threads = new KernelThreads;
  threads->run(begin, end, grain, body);
}

}  // namespace slowfast
