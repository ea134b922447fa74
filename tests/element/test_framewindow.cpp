// Sampling by timestamp, window/hop arithmetic, the feature cache and the whole-stream picks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "framewindow.h"

namespace gstslowfast {
namespace {

constexpr uint64_t kSecond = 1000000000ull;

// Frame i of a constant-rate stream, as GStreamer elements timestamp it (truncated ns).
uint64_t frame_time(uint64_t i, uint64_t fps_n, uint64_t fps_d = 1) {
  return i * kSecond * fps_d / fps_n;
}

std::vector<uint64_t> sampled_frames(FrameSampler& sampler, const std::vector<uint64_t>& times) {
  std::vector<uint64_t> kept;
  for (uint64_t i = 0; i < times.size(); ++i) {
    if (sampler.accept(times[i])) kept.push_back(i);
  }
  return kept;
}

TEST(FrameSampler, ZeroFpsKeepsEveryFrame) {
  FrameSampler sampler(0);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_TRUE(sampler.accept(frame_time(i, 30)));
  EXPECT_TRUE(sampler.accept(kNoTime));
}

TEST(FrameSampler, ThirtyFpsAtFourFps) {
  // Slots every 250 ms: the first frame at or after k/4 s is frame ceil(7.5 k).
  FrameSampler sampler(4);
  std::vector<uint64_t> times;
  for (uint64_t i = 0; i < 300; ++i) times.push_back(frame_time(i, 30));
  const std::vector<uint64_t> kept = sampled_frames(sampler, times);
  ASSERT_EQ(kept.size(), 40u);
  for (uint64_t k = 0; k < kept.size(); ++k) {
    EXPECT_EQ(kept[k], static_cast<uint64_t>(std::ceil(7.5 * k))) << "slot " << k;
  }
}

TEST(FrameSampler, TwentyFiveFpsAtFourFps) {
  FrameSampler sampler(4);
  std::vector<uint64_t> times;
  for (uint64_t i = 0; i < 250; ++i) times.push_back(frame_time(i, 25));
  const std::vector<uint64_t> kept = sampled_frames(sampler, times);
  ASSERT_EQ(kept.size(), 40u);
  for (uint64_t k = 0; k < kept.size(); ++k) {
    EXPECT_EQ(kept[k], static_cast<uint64_t>(std::ceil(6.25 * k))) << "slot " << k;
  }
}

TEST(FrameSampler, NtscRateRoundedTimestamps) {
  // 30000/1001 fps: one frame per slot at 30000/1001 fps sampling, despite ns truncation.
  FrameSampler sampler(30000.0 / 1001.0);
  std::vector<uint64_t> times;
  for (uint64_t i = 0; i < 1000; ++i) times.push_back(frame_time(i, 30000, 1001));
  EXPECT_EQ(sampled_frames(sampler, times).size(), 1000u);
}

TEST(FrameSampler, VariableRateFollowsTimestamps) {
  // Irregular gaps: a slot is filled by the first frame at or after it; empty slots are skipped.
  FrameSampler sampler(2);  // slots every 500 ms from the first frame at 1 s
  const std::vector<uint64_t> times = {1000, 1100, 1490, 1500, 1700, 2600, 2610, 3000, 3499};
  std::vector<uint64_t> ns;
  for (uint64_t ms : times) ns.push_back(ms * 1000000);
  // slots: 1000 (frame 0), 1500 (frame 3), 2000 and 2500 (frame 5 at 2600), 3000 (frame 7)
  EXPECT_EQ(sampled_frames(sampler, ns), (std::vector<uint64_t>{0, 3, 5, 7}));
}

TEST(FrameSampler, ResetStartsANewGrid) {
  FrameSampler sampler(1);
  EXPECT_TRUE(sampler.accept(5 * kSecond));
  EXPECT_FALSE(sampler.accept(5 * kSecond + kSecond / 2));
  sampler.reset();
  EXPECT_TRUE(sampler.accept(5 * kSecond + kSecond / 2));
  EXPECT_FALSE(sampler.accept(6 * kSecond));
  EXPECT_TRUE(sampler.accept(6 * kSecond + kSecond / 2));
}

// Early answers (first-answer-frames): every n frames over the frames so far until the first
// full window, then the hops as without them; next_due() says when each comes.
TEST(SlidingWindow, EarlyAnswersUntilTheFirstFullWindow) {
  SlidingWindow window(64, 16, 16);
  std::vector<uint64_t> due_at, next_due;
  std::vector<Window> windows;
  for (uint64_t i = 0; i < 100; ++i) {
    if (auto due = window.push()) {
      due_at.push_back(window.count());
      next_due.push_back(window.next_due());
      windows.push_back(*due);
    }
  }
  EXPECT_EQ(due_at, (std::vector<uint64_t>{16, 32, 48, 64, 80, 96}));
  EXPECT_EQ(next_due, (std::vector<uint64_t>{32, 48, 64, 80, 96, 112}));
  for (const Window& w : windows) EXPECT_EQ(w.size, 64u);
  EXPECT_EQ(windows[0].first, 0u);
  EXPECT_EQ(windows[0].last, 15u);
  EXPECT_EQ(windows[0].indices().back(), 15u);  // padded with its newest frame
  EXPECT_EQ(windows[2].first, 0u);
  EXPECT_EQ(windows[2].last, 47u);
  EXPECT_EQ(windows[4].first, 16u);
  // Not a multiple of the early interval: the last early answer lasts until the full window.
  SlidingWindow odd(40, 8, 16);
  std::vector<uint64_t> odd_due;
  for (uint64_t i = 0; i < 48; ++i) {
    if (odd.push()) odd_due.push_back(odd.count());
  }
  EXPECT_EQ(odd_due, (std::vector<uint64_t>{16, 32, 40, 48}));
  // An early interval of a whole window or more adds nothing.
  SlidingWindow none(16, 4, 16);
  for (uint64_t i = 0; i < 15; ++i) EXPECT_FALSE(none.push().has_value());
}

TEST(SlidingWindow, FirstWindowWhenFullThenEveryHop) {
  SlidingWindow window(64, 16);
  std::vector<uint64_t> due_at;
  std::vector<Window> windows;
  for (uint64_t i = 0; i < 200; ++i) {
    if (auto w = window.push()) {
      due_at.push_back(i);
      windows.push_back(*w);
    }
  }
  EXPECT_EQ(due_at, (std::vector<uint64_t>{63, 79, 95, 111, 127, 143, 159, 175, 191}));
  for (const Window& w : windows) {
    EXPECT_EQ(w.available(), 64u);
    EXPECT_EQ(w.size, 64u);
    const std::vector<uint64_t> indices = w.indices();
    ASSERT_EQ(indices.size(), 64u);
    for (uint64_t j = 0; j < 64; ++j) EXPECT_EQ(indices[j], w.first + j);
  }
  // 200 frames: the last window ended at 191, so EOS answers frames 136..199.
  auto last = window.finish();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->first, 136u);
  EXPECT_EQ(last->last, 199u);
  EXPECT_FALSE(window.finish().has_value());
}

TEST(SlidingWindow, NoEosWindowWhenTheLastFrameWasAnswered) {
  SlidingWindow window(8, 4);
  for (int i = 0; i < 12; ++i) window.push();  // windows at frames 7 and 11
  EXPECT_FALSE(window.finish().has_value());
}

TEST(SlidingWindow, ShortStreamIsPaddedWithItsLastFrame) {
  SlidingWindow window(64, 16);
  for (int i = 0; i < 42; ++i) EXPECT_FALSE(window.push().has_value());
  auto last = window.finish();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->first, 0u);
  EXPECT_EQ(last->last, 41u);
  const std::vector<uint64_t> indices = last->indices();
  ASSERT_EQ(indices.size(), 64u);
  for (uint64_t j = 0; j < 42; ++j) EXPECT_EQ(indices[j], j);
  for (uint64_t j = 42; j < 64; ++j) EXPECT_EQ(indices[j], 41u);
}

TEST(SlidingWindow, HopLargerThanWindow) {
  SlidingWindow window(4, 10);
  std::vector<uint64_t> due_at;
  for (uint64_t i = 0; i < 30; ++i) {
    if (auto w = window.push()) {
      due_at.push_back(i);
      EXPECT_EQ(w->first + 3, w->last);
    }
  }
  EXPECT_EQ(due_at, (std::vector<uint64_t>{3, 13, 23}));
}

TEST(SlidingWindow, ResetRestarts) {
  SlidingWindow window(4, 2);
  for (int i = 0; i < 5; ++i) window.push();
  window.reset();
  EXPECT_EQ(window.count(), 0u);
  EXPECT_FALSE(window.push().has_value());
  EXPECT_FALSE(window.push().has_value());
  EXPECT_FALSE(window.push().has_value());
  auto w = window.push();
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->first, 0u);
}

TEST(FrameCache, HoldsExactlyTheWindow) {
  // The worker's rule: after frame i is cached, keep frames i-63..i.
  FrameCache<int> cache;
  SlidingWindow window(64, 16);
  for (uint64_t i = 0; i < 300; ++i) {
    cache.put(i, static_cast<int>(i) * 10);
    cache.keep_from(i + 1 >= 64 ? i + 1 - 64 : 0);
    EXPECT_LE(cache.size(), 64u);
    if (auto w = window.push()) {
      auto values = cache.gather(w->indices());
      ASSERT_TRUE(values.has_value()) << "window ending at " << i;
      for (uint64_t j = 0; j < 64; ++j)
        EXPECT_EQ((*values)[j], static_cast<int>(w->first + j) * 10);
    }
  }
  EXPECT_EQ(cache.size(), 64u);
  EXPECT_EQ(cache.keys().front(), 236u);
  EXPECT_FALSE(cache.gather({235}).has_value());
}

TEST(Linspace, MatchesNumpy) {
  // numpy.linspace(0, 99, 64).astype(int)[:8] and [-4:]
  const std::vector<uint64_t> picks = linspace_indices(100, 64);
  ASSERT_EQ(picks.size(), 64u);
  EXPECT_EQ(std::vector<uint64_t>(picks.begin(), picks.begin() + 8),
            (std::vector<uint64_t>{0, 1, 3, 4, 6, 7, 9, 11}));
  EXPECT_EQ(std::vector<uint64_t>(picks.end() - 4, picks.end()),
            (std::vector<uint64_t>{94, 95, 97, 99}));
  // A short clip repeats frames: numpy.linspace(0, 9, 64).astype(int) starts 0 (x7), 1 (7 * 9/63
  // is exactly 1.0 in doubles).
  const std::vector<uint64_t> short_picks = linspace_indices(10, 64);
  EXPECT_EQ(short_picks.front(), 0u);
  EXPECT_EQ(short_picks[6], 0u);
  EXPECT_EQ(short_picks[7], 1u);
  EXPECT_EQ(short_picks.back(), 9u);
  EXPECT_EQ(linspace_indices(64, 64).back(), 63u);
  for (uint64_t i = 0; i < 64; ++i) EXPECT_EQ(linspace_indices(64, 64)[i], i);
}

TEST(Reservoir, StrideKeepsAtMostCapacity) {
  for (uint64_t n = 1; n < 5000; n += 7) {
    const uint64_t stride = reservoir_stride(n, 256);
    EXPECT_LE((n + stride - 1) / stride, 256u) << n;
    if (stride > 1) {
      EXPECT_GT((n + stride / 2 - 1) / (stride / 2), 256u) << n;
    }
  }
}

TEST(Reservoir, ExactWhileTheStreamFits) {
  for (uint64_t n = 1; n <= 256; ++n) {
    EXPECT_EQ(reservoir_picks(n, 64, 256), linspace_indices(n, 64)) << "n = " << n;
  }
}

// Simulates the element: frames arrive one by one, each kept only while the reservoir keeps it;
// at EOS every pick must be a frame still held (or the newest), within stride/2 of its target.
TEST(Reservoir, PicksAreHeldAndNearTheirTargets) {
  for (uint64_t n : {257ull, 300ull, 511ull, 512ull, 1000ull, 4097ull, 30000ull}) {
    std::set<uint64_t> held;
    for (uint64_t i = 0; i < n; ++i) {
      if (reservoir_keeps(i, i + 1, 256)) held.insert(i);
      for (auto it = held.begin(); it != held.end();) {
        it = reservoir_keeps(*it, i + 1, 256) ? std::next(it) : held.erase(it);
      }
      ASSERT_LE(held.size(), 256u);
    }
    held.insert(n - 1);  // the newest frame, sent at EOS
    const uint64_t stride = reservoir_stride(n, 256);
    EXPECT_LT(stride, 2 * n / 256 + 1);
    const std::vector<uint64_t> targets = linspace_indices(n, 64);
    const std::vector<uint64_t> picks = reservoir_picks(n, 64, 256);
    ASSERT_EQ(picks.size(), 64u);
    EXPECT_EQ(picks.front(), 0u);
    EXPECT_EQ(picks.back(), n - 1);
    for (size_t i = 0; i < picks.size(); ++i) {
      EXPECT_TRUE(held.count(picks[i])) << "n " << n << " pick " << picks[i] << " not held";
      const uint64_t error = picks[i] > targets[i] ? picks[i] - targets[i] : targets[i] - picks[i];
      EXPECT_LE(error, stride / 2) << "n " << n << " target " << targets[i];
      if (i > 0) {
        EXPECT_LE(picks[i - 1], picks[i]);
      }
    }
  }
}

}  // namespace
}  // namespace gstslowfast
