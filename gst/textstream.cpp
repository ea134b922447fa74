#include "textstream.h"

#include <algorithm>

namespace gstslowfast {

void TextTimeline::hold(uint64_t end) {
  held_.insert(end);
}

void TextTimeline::release(uint64_t end) {
  const auto it = held_.find(end);
  if (it != held_.end()) held_.erase(it);
}

void TextTimeline::release_all() {
  held_.clear();
}

std::optional<TextTimeline::Span> TextTimeline::advance(uint64_t from, uint64_t until) {
  if (ended_ || until == kNoTime) return std::nullopt;
  if (!held_.empty()) until = std::min(until, *held_.begin());
  if (position_ == kNoTime) position_ = from;
  if (position_ == kNoTime || until <= position_) return std::nullopt;
  const Span gap{position_, until - position_};
  position_ = until;
  return gap;
}

std::optional<TextTimeline::Span> TextTimeline::place(uint64_t end, uint64_t duration,
                                                      bool at_eos) {
  release(end);
  if (ended_) return std::nullopt;
  Span span{end, duration};
  if (span.start == kNoTime) return span;
  if (last_stop_ != kNoTime) {
    if (at_eos) return std::nullopt;  // the stream has no time left to show it; the bus has it
    if (span.start < last_stop_) span.start = last_stop_;
  }
  if (end_ != kNoTime && !at_eos) {
    if (span.start >= end_) return std::nullopt;
    if (duration == kNoTime || duration > end_ - span.start) span.duration = end_ - span.start;
  }
  const uint64_t stop = span.duration != kNoTime ? span.start + span.duration : span.start;
  last_stop_ = stop;
  if (position_ == kNoTime || stop > position_) position_ = stop;
  return span;
}

void TextTimeline::reset() {
  position_ = kNoTime;
  last_stop_ = kNoTime;
  end_ = kNoTime;
  held_.clear();
  ended_ = false;
}

}  // namespace gstslowfast
