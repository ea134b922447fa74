#include "framewindow.h"

#include <algorithm>
#include <cmath>

namespace gstslowfast {
namespace {

// Frame timestamps are often rounded to the nanosecond (1/30 s = 33333333 ns); a frame this close
// before a slot counts as on it.
constexpr uint64_t kSlotTolerance = 1000;

}  // namespace

void FrameSampler::reset() {
  origin_ = kNoTime;
  next_slot_ = 0;
}

uint64_t FrameSampler::slot_time(uint64_t slot) const {
  return origin_ + static_cast<uint64_t>(std::llround(static_cast<double>(slot) * 1e9 / fps_));
}

bool FrameSampler::accept(uint64_t pts) {
  if (fps_ <= 0) return true;
  if (pts == kNoTime) return false;
  if (origin_ == kNoTime || pts < origin_) {
    origin_ = pts;
    next_slot_ = 0;
  }
  const uint64_t reach = pts + kSlotTolerance;
  if (reach < slot_time(next_slot_)) return false;
  // The next slot is the first one after this frame (a gap in the stream skips empty slots).
  uint64_t slot = static_cast<uint64_t>(static_cast<double>(pts - origin_) * fps_ / 1e9);
  slot = std::max(slot, next_slot_);
  while (slot_time(slot) <= reach) ++slot;
  next_slot_ = slot;
  return true;
}

std::vector<uint64_t> Window::indices() const {
  std::vector<uint64_t> out;
  out.reserve(size);
  for (uint64_t i = first; i <= last && out.size() < size; ++i) out.push_back(i);
  while (out.size() < size) out.push_back(last);
  return out;
}

SlidingWindow::SlidingWindow(uint32_t window_frames, uint32_t hop_frames,
                             uint32_t first_answer_frames)
    : window_frames_(std::max<uint32_t>(window_frames, 1)),
      hop_frames_(std::max<uint32_t>(hop_frames, 1)),
      first_answer_frames_(first_answer_frames < window_frames_ ? first_answer_frames : 0),
      next_due_(window_frames_) {}

uint64_t SlidingWindow::next_due() const {
  if (first_answer_frames_ > 0 && count_ < window_frames_) {
    const uint64_t early = (count_ / first_answer_frames_ + 1) * first_answer_frames_;
    if (early < window_frames_) return early;
  }
  return next_due_;
}

void SlidingWindow::reset() {
  count_ = 0;
  next_due_ = window_frames_;
  answered_.reset();
}

Window SlidingWindow::window_ending_at(uint64_t last) const {
  Window window;
  window.last = last;
  window.first = window_first(last, window_frames_);
  window.size = window_frames_;
  return window;
}

std::optional<Window> SlidingWindow::push() {
  ++count_;
  if (first_answer_frames_ > 0 && count_ < window_frames_ && count_ % first_answer_frames_ == 0) {
    answered_ = count_ - 1;
    return window_ending_at(count_ - 1);
  }
  if (count_ != next_due_) return std::nullopt;
  next_due_ = count_ + hop_frames_;
  answered_ = count_ - 1;
  return window_ending_at(count_ - 1);
}

std::optional<Window> SlidingWindow::finish() {
  if (count_ == 0 || (answered_ && *answered_ == count_ - 1)) return std::nullopt;
  answered_ = count_ - 1;
  return window_ending_at(count_ - 1);
}

uint64_t reservoir_stride(uint64_t n, uint64_t capacity) {
  capacity = std::max<uint64_t>(capacity, 1);
  uint64_t stride = 1;
  // Kept frames: the multiples of stride below n, ceil(n / stride) of them.
  while ((n + stride - 1) / stride > capacity) stride *= 2;
  return stride;
}

bool reservoir_keeps(uint64_t index, uint64_t n, uint64_t capacity) {
  return index % reservoir_stride(n, capacity) == 0;
}

std::vector<uint64_t> reservoir_picks(uint64_t n, uint32_t count, uint64_t capacity) {
  std::vector<uint64_t> picks = linspace_indices(n, count);
  const uint64_t stride = reservoir_stride(n, capacity);
  for (uint64_t& pick : picks) {
    if (pick == n - 1 || pick % stride == 0) continue;
    const uint64_t below = pick - pick % stride;
    const uint64_t above = below + stride;
    // The nearest kept frame (ties go to the earlier one): the multiple of stride below, the one
    // above when it exists, or the newest frame.
    uint64_t best = below;
    if (above < n && above - pick < pick - best) best = above;
    if (n - 1 - pick < (best > pick ? best - pick : pick - best)) best = n - 1;
    pick = best;
  }
  return picks;
}

}  // namespace gstslowfast
