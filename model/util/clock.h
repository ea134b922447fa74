// Wall-clock intervals for the timings the engine, its tools and the element report.
#pragma once

#include <chrono>

namespace slowfast {

using Clock = std::chrono::steady_clock;

// Seconds from `start` to now.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace slowfast
