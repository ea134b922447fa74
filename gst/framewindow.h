// The element's bookkeeping without GObject: which frames are sampled, when a window is due,
// which cached features a window needs, and which frames the whole-stream mode keeps. Times are
// nanoseconds (GstClockTime); kNoTime is GST_CLOCK_TIME_NONE.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "util/linspace.h"

namespace gstslowfast {

constexpr uint64_t kNoTime = UINT64_MAX;

// Picks frames by timestamp: slots 1/fps apart starting at the first frame; each slot takes the
// first frame whose timestamp is at or after it, so a 30 fps stream sampled at 4 fps keeps frames
// 0, 8, 15, 23, 30, ... and a variable-rate stream keeps the same times. fps == 0 keeps every
// frame.
class FrameSampler {
 public:
  explicit FrameSampler(double fps = 0) : fps_(fps) {}

  // Forgets the origin; the next frame starts a new slot grid (new segment, flush).
  void reset();
  // True when the frame at `pts` is sampled. Timestamps must not decrease within a grid.
  bool accept(uint64_t pts);

  double fps() const { return fps_; }

 private:
  uint64_t slot_time(uint64_t slot) const;

  double fps_;
  uint64_t origin_ = kNoTime;
  uint64_t next_slot_ = 0;
};

// The one rule for which frames a sliding window holds: the window whose newest sampled frame is
// `last` starts at this frame. Windows are made by it (SlidingWindow), the streaming thread keeps
// the frame times and the worker the features it says a window can still need.
inline uint64_t window_first(uint64_t last, uint32_t window_frames) {
  return last + 1 >= window_frames ? last + 1 - window_frames : 0;
}

// A window: sampled frames first..last (indices count sampled frames from 0), answered as `size`
// frames, the last one repeated when fewer than `size` are available (the reference pads a short
// clip the same way).
struct Window {
  uint64_t first = 0;
  uint64_t last = 0;
  uint32_t size = 0;

  uint64_t available() const { return last - first + 1; }
  // first, ..., last, last, ... (size entries).
  std::vector<uint64_t> indices() const;
};

// Sliding windows over the sampled frames: the first full window is due when `window_frames`
// frames have been sampled, then one every `hop_frames` further frames. With
// `first_answer_frames` n > 0, early windows come before it, every n frames (n, 2n, ... while
// fewer than window_frames are sampled), over the frames so far, so a stream is not silent for a
// whole window.
class SlidingWindow {
 public:
  SlidingWindow(uint32_t window_frames, uint32_t hop_frames, uint32_t first_answer_frames = 0);

  void reset();
  // Records the next sampled frame (index count()-1 afterwards); returns the window due now.
  std::optional<Window> push();
  // At EOS: the window over the newest frames when some arrived since the last answer (a short
  // stream gives one window padded to window_frames).
  std::optional<Window> finish();

  uint64_t count() const { return count_; }
  // The count at which the next window is due.
  uint64_t next_due() const;
  uint32_t window_frames() const { return window_frames_; }
  uint32_t hop_frames() const { return hop_frames_; }

 private:
  Window window_ending_at(uint64_t last) const;

  uint32_t window_frames_;
  uint32_t hop_frames_;
  uint32_t first_answer_frames_;
  uint64_t count_ = 0;
  uint64_t next_due_;                 // count at which the next window is due
  std::optional<uint64_t> answered_;  // last frame of the newest window handed out
};

// Per-frame values (features, RGB frames) by sampled-frame index.
template <typename T>
class FrameCache {
 public:
  void put(uint64_t index, T value) { entries_[index] = std::move(value); }
  // Drops every entry older than `first`.
  void keep_from(uint64_t first) { entries_.erase(entries_.begin(), entries_.lower_bound(first)); }
  // Keeps what the sliding window ending at `newest` holds (window_first).
  void keep_window(uint64_t newest, uint32_t window_frames) {
    keep_from(window_first(newest, window_frames));
  }
  // Drops every entry `keep` rejects.
  void keep_if(const std::function<bool(uint64_t)>& keep) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = keep(it->first) ? std::next(it) : entries_.erase(it);
    }
  }
  const T* find(uint64_t index) const {
    auto it = entries_.find(index);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // The values at `indices`, or nothing when one is missing.
  std::optional<std::vector<T>> gather(const std::vector<uint64_t>& indices) const {
    std::vector<T> values;
    values.reserve(indices.size());
    for (uint64_t index : indices) {
      const T* value = find(index);
      if (value == nullptr) return std::nullopt;
      values.push_back(*value);
    }
    return values;
  }
  std::vector<uint64_t> keys() const {
    std::vector<uint64_t> out;
    for (const auto& entry : entries_) out.push_back(entry.first);
    return out;
  }
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  std::map<uint64_t, T> entries_;
};

// The reference's uniform pick of `count` frames out of `n` (util/linspace.h).
using slowfast::linspace_indices;

// Whole-stream mode keeps, of the first n sampled frames, the multiples of a power-of-two stride,
// doubling the stride whenever more than `capacity` frames would be kept. So frame k, seen when n
// frames have been sampled, is still kept iff k % reservoir_stride(n, capacity) == 0: a frame
// dropped once is never needed again and is never encoded if it is dropped on arrival.
uint64_t reservoir_stride(uint64_t n, uint64_t capacity);
bool reservoir_keeps(uint64_t index, uint64_t n, uint64_t capacity);

// The `count` frames answered at EOS after n sampled frames: for each linspace target, the nearest
// kept frame (the multiples of reservoir_stride(n), plus the newest frame n-1, which is always
// kept). Equal to linspace_indices(n, count) when n <= capacity; otherwise each pick is at most
// stride/2 frames from its target, and stride <= 2n/capacity.
std::vector<uint64_t> reservoir_picks(uint64_t n, uint32_t count, uint64_t capacity);

}  // namespace gstslowfast
