// text_src's timing rules (gst/textstream.h): GAPs follow the video but never pass a window that
// is waiting for its answer; answers go at their window's end, never overlap, and stop at the
// stream's end once it is known.
#include <gtest/gtest.h>

#include "textstream.h"

using gstslowfast::kNoTime;
using gstslowfast::TextTimeline;

namespace {

constexpr uint64_t kSecond = 1000000000;

void expect_gap(const std::optional<TextTimeline::Span>& gap, uint64_t start, uint64_t duration) {
  ASSERT_TRUE(gap.has_value());
  EXPECT_EQ(gap->start, start);
  EXPECT_EQ(gap->duration, duration);
}

}  // namespace

TEST(TextTimeline, GapsFollowTheVideoFromItsFirstFrame) {
  TextTimeline timeline;
  EXPECT_EQ(timeline.position(), kNoTime);
  expect_gap(timeline.advance(2 * kSecond, 3 * kSecond), 2 * kSecond, kSecond);
  expect_gap(timeline.advance(3 * kSecond, 4 * kSecond), 3 * kSecond, kSecond);
  EXPECT_EQ(timeline.position(), 4 * kSecond);
  // Video that does not reach past the position announces nothing.
  EXPECT_FALSE(timeline.advance(3 * kSecond, 4 * kSecond).has_value());
  EXPECT_FALSE(timeline.advance(4 * kSecond, kNoTime).has_value());
}

TEST(TextTimeline, AHeldWindowStopsTheGapsAtItsEndUntilAnswered) {
  TextTimeline timeline;
  expect_gap(timeline.advance(0, kSecond), 0, kSecond);
  timeline.hold(2 * kSecond);
  expect_gap(timeline.advance(kSecond, 3 * kSecond), kSecond, kSecond);  // up to the window end
  EXPECT_FALSE(timeline.advance(3 * kSecond, 4 * kSecond).has_value());
  const auto answer = timeline.place(2 * kSecond, 4 * kSecond);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->start, 2 * kSecond);
  EXPECT_EQ(answer->duration, 4 * kSecond);
  EXPECT_EQ(timeline.position(), 6 * kSecond);  // the answer covers its duration
  EXPECT_FALSE(timeline.advance(4 * kSecond, 5 * kSecond).has_value());
  expect_gap(timeline.advance(6 * kSecond, 7 * kSecond), 6 * kSecond, kSecond);
}

TEST(TextTimeline, TheEarliestOfSeveralHoldsCountsAndAReleaseLetsGo) {
  TextTimeline timeline;
  timeline.advance(0, kSecond);
  timeline.hold(5 * kSecond);
  timeline.hold(3 * kSecond);
  timeline.hold(3 * kSecond);  // two windows may end at once
  expect_gap(timeline.advance(kSecond, 10 * kSecond), kSecond, 2 * kSecond);
  timeline.release(3 * kSecond);
  EXPECT_FALSE(timeline.advance(3 * kSecond, 10 * kSecond).has_value());  // one still holds
  timeline.release(3 * kSecond);
  expect_gap(timeline.advance(3 * kSecond, 10 * kSecond), 3 * kSecond, 2 * kSecond);
  timeline.release_all();
  expect_gap(timeline.advance(5 * kSecond, 10 * kSecond), 5 * kSecond, 5 * kSecond);
}

TEST(TextTimeline, AnAnswerNeverOverlapsThePreviousOne) {
  TextTimeline timeline;
  timeline.place(8 * kSecond, 4 * kSecond);
  const auto late = timeline.place(10 * kSecond, 4 * kSecond);  // ends before that caption stops
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->start, 12 * kSecond);  // after the previous caption's stop, not at 10
  EXPECT_EQ(late->duration, 4 * kSecond);
  EXPECT_EQ(timeline.position(), 16 * kSecond);
  // The EOS window's answer, less than a hop after the last: it would overlap it.
  EXPECT_FALSE(timeline.place(14 * kSecond, kNoTime, true).has_value());
}

TEST(TextTimeline, CaptionsAreClippedToTheStreamsEnd) {
  TextTimeline timeline;
  timeline.set_end(10 * kSecond);  // a 10 s file, its duration known ahead
  const auto first = timeline.place(4 * kSecond, 4 * kSecond);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->duration, 4 * kSecond);
  const auto last = timeline.place(8 * kSecond, 4 * kSecond);  // would run to 12 s
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->start, 8 * kSecond);
  EXPECT_EQ(last->duration, 2 * kSecond);
  EXPECT_EQ(timeline.position(), 10 * kSecond);
  // The EOS window's answer (frames up to 10 s) has no time left: not placed, nothing overlaps.
  EXPECT_FALSE(timeline.place(10 * kSecond, kNoTime, true).has_value());
  const auto unbounded = TextTimeline().place(3 * kSecond, kNoTime);
  ASSERT_TRUE(unbounded.has_value());
  EXPECT_EQ(unbounded->duration, kNoTime);  // no end known: nothing to clip to
}

TEST(TextTimeline, AnEndLearntAtEosClipsTheRest) {
  TextTimeline timeline;  // live: the end is known only at EOS
  timeline.set_end(6 * kSecond);
  // The last full window's answer, still being made at EOS, stops at the end.
  const auto last = timeline.place(4 * kSecond, 4 * kSecond);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->duration, 2 * kSecond);
  EXPECT_FALSE(timeline.place(7 * kSecond, kSecond).has_value());  // after the end
}

TEST(TextTimeline, TheOnlyAnswerOfAStreamGoesAtItsEnd) {
  TextTimeline timeline;  // whole-stream mode, or a clip shorter than one window
  timeline.set_end(3 * kSecond);
  expect_gap(timeline.advance(0, 3 * kSecond), 0, 3 * kSecond);  // GAPs up to the end
  const auto only = timeline.place(3 * kSecond, kNoTime, true);
  ASSERT_TRUE(only.has_value());
  EXPECT_EQ(only->start, 3 * kSecond);
  EXPECT_EQ(only->duration, kNoTime);
}

TEST(TextTimeline, AResetForgetsTheEnd) {
  TextTimeline timeline;
  timeline.set_end(2 * kSecond);
  timeline.place(kSecond, kSecond);
  timeline.reset();
  const auto next = timeline.place(4 * kSecond, 4 * kSecond);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->start, 4 * kSecond);
  EXPECT_EQ(next->duration, 4 * kSecond);
}

TEST(TextTimeline, NothingAfterTheEndOfTheStreamUntilReset) {
  TextTimeline timeline;
  timeline.advance(0, kSecond);
  timeline.hold(2 * kSecond);
  timeline.end_stream();
  EXPECT_TRUE(timeline.ended());
  EXPECT_FALSE(timeline.advance(kSecond, 2 * kSecond).has_value());
  EXPECT_FALSE(timeline.place(2 * kSecond, kSecond).has_value());
  timeline.reset();
  EXPECT_FALSE(timeline.ended());
  EXPECT_EQ(timeline.position(), kNoTime);
  // The reset forgot the hold and the position: a new segment starts where its video starts.
  expect_gap(timeline.advance(30 * kSecond, 40 * kSecond), 30 * kSecond, 10 * kSecond);
}
