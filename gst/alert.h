// Alert mode without GObject: reads each answer as yes, no or neither, and raises or clears an
// alert with hysteresis (raise after N consecutive yes, clear after M consecutive no), so a single
// wrong answer neither starts nor ends an alert.
#pragma once

#include <cstdint>
#include <string_view>

namespace gstslowfast {

enum class Verdict { Yes, No, Neither };

// The answer's first whitespace-separated word, ASCII punctuation stripped from both its ends,
// compared case-insensitively with "yes" and "no": "Yes.", "NO", "\"yes,\" there is" are read;
// "Yeah", "Nope", "y", an empty answer are Neither.
Verdict read_verdict(std::string_view answer);

// The alert state machine. Cleared: consecutive Yes are counted, a No resets the count, and the
// raise_after-th consecutive Yes raises. Raised: consecutive No are counted, a Yes resets the
// count, and the clear_after-th consecutive No clears. Neither is ignored: it neither counts nor
// resets (a garbled answer does not break a run).
class AlertHysteresis {
 public:
  enum class Change { None, Raised, Cleared };

  // raise_after == 0 disables alerts: update() never changes anything. clear_after 0 counts as 1.
  explicit AlertHysteresis(uint32_t raise_after = 0, uint32_t clear_after = 1);

  // New thresholds; the state goes back to cleared with no run.
  void configure(uint32_t raise_after, uint32_t clear_after);
  void reset();

  // Feeds one answer's verdict; returns the change it caused, if any.
  Change update(Verdict verdict);

  bool enabled() const { return raise_after_ > 0; }
  bool raised() const { return raised_; }
  // Length of the current run towards the next change (Yes while cleared, No while raised); right
  // after a change, the run that caused it.
  uint32_t run() const { return run_; }
  uint32_t raise_after() const { return raise_after_; }
  uint32_t clear_after() const { return clear_after_; }

 private:
  uint32_t raise_after_;
  uint32_t clear_after_;
  bool raised_ = false;
  uint32_t run_ = 0;
  // The previous update changed the state: the next counted answer starts a new run.
  bool run_done_ = false;
};

}  // namespace gstslowfast
