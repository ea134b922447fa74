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

std::optional<TextTimeline::Span> TextTimeline::place(uint64_t end, uint64_t duration) {
  release(end);
  if (ended_) return std::nullopt;
  Span span{end, duration};
  // An EOS window comes less than a hop after the previous one: its caption overlaps it.
  if (last_pts_ != kNoTime && span.start != kNoTime && span.start < last_pts_) {
    span.start = last_pts_;
  }
  if (span.start != kNoTime) {
    const uint64_t stop = duration != kNoTime ? span.start + duration : span.start;
    last_pts_ = span.start;
    if (position_ == kNoTime || stop > position_) position_ = stop;
  }
  return span;
}

void TextTimeline::reset() {
  position_ = kNoTime;
  last_pts_ = kNoTime;
  held_.clear();
  ended_ = false;
}

}  // namespace gstslowfast
