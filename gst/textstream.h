// The timing rules of the element's sparse text stream (text_src), without GObject: how far GAP
// events may announce that no text is coming, and where an answer's buffer goes. Times are
// nanoseconds (GstClockTime); kNoTime is GST_CLOCK_TIME_NONE. One thread at a time uses it
// (text_src's task).
#pragma once

#include <cstdint>
#include <optional>
#include <set>

#include "framewindow.h"

namespace gstslowfast {

class TextTimeline {
 public:
  // A stretch of the text stream: a GAP, or an answer's buffer (duration may be kNoTime).
  struct Span {
    uint64_t start = kNoTime;
    uint64_t duration = kNoTime;
  };

  // A window ending at `end` is waiting for its answer: the stream must not be announced empty
  // past `end`, the answer is still to come there.
  void hold(uint64_t end);
  // Its answer will not come (the window was dropped or failed).
  void release(uint64_t end);
  void release_all();

  // Video now covers [from, until): the GAP to send, if any. The stream advances to `until`, or
  // to the end of the earliest held window when that is earlier. Nothing after end_stream().
  std::optional<Span> advance(uint64_t from, uint64_t until);
  // The answer of the window ending at `end`, to last `duration`: where its buffer goes, and the
  // window's hold is released. Captions never overlap: an answer that would start before the
  // previous one stops starts at that stop. Once the stream's end is known (set_end), durations
  // are clipped to it and an answer with no time left is not placed. The answer of the window
  // made at EOS (`at_eos`) ends where the stream does: it is placed, unclipped, only when it is
  // the segment's only answer (whole-stream mode, a clip shorter than a window), else it would
  // overlap the last caption or have no time at all. Nothing after end_stream().
  std::optional<Span> place(uint64_t end, uint64_t duration, bool at_eos = false);

  // Where the stream ends (a file's duration, known ahead, or the last frame's end at EOS).
  void set_end(uint64_t end) { end_ = end; }

  // EOS was sent: nothing more until reset().
  void end_stream() { ended_ = true; }
  bool ended() const { return ended_; }
  // A new segment or a flush: nothing announced, nothing held.
  void reset();

  // How far the stream has been announced (GAPs and answers), kNoTime before anything.
  uint64_t position() const { return position_; }

 private:
  uint64_t position_ = kNoTime;
  uint64_t last_stop_ = kNoTime;  // where the previous answer stops (its start if unbounded)
  uint64_t end_ = kNoTime;
  std::multiset<uint64_t> held_;
  bool ended_ = false;
};

}  // namespace gstslowfast
