#include "alert.h"

#include <algorithm>
#include <cctype>

namespace gstslowfast {
namespace {

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}
bool is_punct(char c) {
  return std::ispunct(static_cast<unsigned char>(c)) != 0;
}

bool equals_ignoring_case(std::string_view word, std::string_view lower) {
  return word.size() == lower.size() &&
         std::equal(word.begin(), word.end(), lower.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

}  // namespace

Verdict read_verdict(std::string_view answer) {
  size_t begin = 0;
  while (begin < answer.size() && is_space(answer[begin])) ++begin;
  size_t end = begin;
  while (end < answer.size() && !is_space(answer[end])) ++end;
  while (begin < end && is_punct(answer[begin])) ++begin;
  while (end > begin && is_punct(answer[end - 1])) --end;
  const std::string_view word = answer.substr(begin, end - begin);
  if (equals_ignoring_case(word, "yes")) return Verdict::Yes;
  if (equals_ignoring_case(word, "no")) return Verdict::No;
  return Verdict::Neither;
}

AlertHysteresis::AlertHysteresis(uint32_t raise_after, uint32_t clear_after) {
  configure(raise_after, clear_after);
}

void AlertHysteresis::configure(uint32_t raise_after, uint32_t clear_after) {
  raise_after_ = raise_after;
  clear_after_ = std::max<uint32_t>(clear_after, 1);
  reset();
}

void AlertHysteresis::reset() {
  raised_ = false;
  run_ = 0;
  run_done_ = false;
}

AlertHysteresis::Change AlertHysteresis::update(Verdict verdict) {
  if (!enabled() || verdict == Verdict::Neither) return Change::None;
  if (run_done_) {
    run_ = 0;
    run_done_ = false;
  }
  // Cleared counts Yes towards raising, raised counts No towards clearing; the other verdict
  // breaks the run.
  const Verdict towards_change = raised_ ? Verdict::No : Verdict::Yes;
  if (verdict != towards_change) {
    run_ = 0;
    return Change::None;
  }
  ++run_;
  if (run_ < (raised_ ? clear_after_ : raise_after_)) return Change::None;
  raised_ = !raised_;
  run_done_ = true;
  return raised_ ? Change::Raised : Change::Cleared;
}

}  // namespace gstslowfast
