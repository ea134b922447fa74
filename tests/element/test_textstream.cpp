// text_src's timing rules (gst/textstream.h): GAPs follow the video but never pass a window that
// is waiting for its answer; answers go at their window's end, their PTS never decrease.
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

TEST(TextTimeline, AnAnswerNeverStartsBeforeThePreviousOne) {
  TextTimeline timeline;
  timeline.place(8 * kSecond, 4 * kSecond);
  const auto late = timeline.place(6 * kSecond, kNoTime);  // an EOS window ending earlier
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->start, 8 * kSecond);
  EXPECT_EQ(late->duration, kNoTime);
  EXPECT_EQ(timeline.position(), 12 * kSecond);  // a shorter answer does not move it back
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
