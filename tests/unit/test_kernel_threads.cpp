// parallel_chunks(): the decode kernels' own threads (layers/kernel_threads.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>

#include "layers/kernel_threads.h"

namespace slowfast {
namespace {

// libtorch's intra-op thread count for one test, restored after it.
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int count) : saved_(at::get_num_threads()) { at::set_num_threads(count); }
  ~IntraOpThreads() { at::set_num_threads(saved_); }

 private:
  int saved_;
};

struct Chunk {
  int64_t begin, end;
  std::thread::id thread;
};

std::vector<Chunk> record_chunks(int64_t begin, int64_t end, int64_t grain) {
  std::mutex mutex;
  std::vector<Chunk> chunks;
  parallel_chunks(begin, end, grain, [&](int64_t first, int64_t last) {
    // Long enough that a worker still asleep from an earlier test is woken, not outrun.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> lock(mutex);
    chunks.push_back({first, last, std::this_thread::get_id()});
  });
  std::sort(chunks.begin(), chunks.end(),
            [](const Chunk& a, const Chunk& b) { return a.begin < b.begin; });
  return chunks;
}

TEST(KernelThreads, CoversTheRangeOnceInContiguousChunksOnSeveralThreads) {
  for (const int threads : {1, 2, 4}) {
    IntraOpThreads intra_op(threads);
    for (const auto& [begin, end, grain] :
         {std::tuple<int64_t, int64_t, int64_t>{0, 896, 64}, {5, 6, 1}, {0, 16, 1}, {3, 200, 64}}) {
      const std::vector<Chunk> chunks = record_chunks(begin, end, grain);
      const int64_t expected = std::min<int64_t>(threads, (end - begin + grain - 1) / grain);
      ASSERT_EQ(static_cast<int64_t>(chunks.size()), expected)
          << threads << " threads, [" << begin << ", " << end << ") grain " << grain;
      int64_t next = begin;
      std::set<std::thread::id> ran_on;
      for (const Chunk& chunk : chunks) {
        EXPECT_EQ(chunk.begin, next);
        EXPECT_LT(chunk.begin, chunk.end);
        next = chunk.end;
        ran_on.insert(chunk.thread);
      }
      EXPECT_EQ(next, end);
      // The caller takes the first chunk; a worker that has not started its chunk by then (no
      // core free on a busy machine) leaves it to the caller too.
      EXPECT_EQ(chunks.front().thread, std::this_thread::get_id());
      EXPECT_LE(ran_on.size(), chunks.size());
    }
  }
}

TEST(KernelThreads, AWorkerWithACoreRunsItsOwnChunk) {
  IntraOpThreads intra_op(2);
  std::mutex mutex;
  std::set<std::thread::id> ran_on;
  parallel_chunks(0, 2, 1, [&](int64_t, int64_t) {
    // Time enough for a sleeping worker to be woken and scheduled, even on a busy machine.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> lock(mutex);
    ran_on.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ran_on.size(), 2u);
}

TEST(KernelThreads, ManyShortLoopsOnMoreThreadsThanCoresRunEachChunkOnce) {
  // Workers preempted at any point, and chunks the caller takes from late workers: a worker
  // coming back must never run a chunk of a loop that is over, or one twice.
  IntraOpThreads intra_op(4);
  int64_t wrong = 0;
  for (int loop = 0; loop < 100000; ++loop) {
    std::vector<std::atomic<int>> hits(4);
    parallel_chunks(0, 4, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[i]++;
    });
    for (const auto& count : hits) wrong += count.load() != 1;
  }
  EXPECT_EQ(wrong, 0);
}

TEST(KernelThreads, EmptyRangeCallsNothing) {
  IntraOpThreads intra_op(2);
  int calls = 0;
  parallel_chunks(7, 7, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(KernelThreads, AWorkersExceptionReachesTheCallerAndThePoolGoesOn) {
  IntraOpThreads intra_op(2);
  const auto throw_in_second = [](int64_t begin, int64_t) {
    if (begin > 0) throw std::runtime_error("chunk failed");
  };
  EXPECT_THROW(parallel_chunks(0, 100, 1, throw_in_second), std::runtime_error);
  std::atomic<int64_t> sum{0};
  parallel_chunks(0, 100, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

TEST(KernelThreads, ALoopInsideAChunkRunsInline) {
  IntraOpThreads intra_op(2);
  std::atomic<int64_t> items{0};
  parallel_chunks(0, 4, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto outer = std::this_thread::get_id();
      parallel_chunks(0, 10, 1, [&](int64_t first, int64_t last) {
        EXPECT_EQ(std::this_thread::get_id(), outer);
        items += last - first;
      });
    }
  });
  EXPECT_EQ(items.load(), 40);
}

TEST(KernelThreads, ConcurrentCallersEachGetEveryChunkAfterWorkersSlept) {
  IntraOpThreads intra_op(2);
  // Longer than the workers spin: the next loops wake them from sleep.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  constexpr int kCallers = 4;
  constexpr int kLoops = 300;
  std::vector<int64_t> sums(kCallers, 0);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      at::set_num_threads(2);
      for (int loop = 0; loop < kLoops; ++loop) {
        std::atomic<int64_t> sum{0};
        parallel_chunks(0, 1000, 1, [&](int64_t begin, int64_t end) {
          int64_t part = 0;
          for (int64_t i = begin; i < end; ++i) part += i + c;
          sum += part;
        });
        sums[c] += sum.load();
      }
    });
  }
  for (auto& caller : callers) caller.join();
  for (int c = 0; c < kCallers; ++c) {
    EXPECT_EQ(sums[c], int64_t{kLoops} * (499500 + 1000 * c)) << "caller " << c;
  }
}

TEST(KernelThreads, EveryLoopPassesTheCallingThreadsGateFirst) {
  IntraOpThreads intra_op(2);
  std::atomic<int> passed{0};
  std::atomic<bool> body_ran_before_gate{false};
  set_loop_gate([&] { ++passed; });
  for (int loop = 0; loop < 3; ++loop) {
    parallel_chunks(0, 100, 1, [&](int64_t, int64_t) {
      // Chunks pass no gate of their own, and run after the loop's gate.
      if (passed != loop + 1) body_ran_before_gate = true;
    });
  }
  pass_loop_gate();
  // Another thread's loops do not pass this thread's gate.
  std::thread([] { parallel_chunks(0, 100, 1, [](int64_t, int64_t) {}); }).join();
  set_loop_gate(nullptr);
  parallel_chunks(0, 100, 1, [](int64_t, int64_t) {});
  pass_loop_gate();
  EXPECT_EQ(passed.load(), 4);
  EXPECT_FALSE(body_ran_before_gate.load());
}

}  // namespace
}  // namespace slowfast
