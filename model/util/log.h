// Engine-internal logging, routed through the callback set with slowfast::set_log_callback().
#pragma once

#include <sstream>
#include <string>

#include "slowfast.h"

namespace slowfast {

void log_message(LogLevel level, const std::string& message);

// log(LogLevel::Debug, "loaded ", n, " tensors");
template <typename... Args>
void log(LogLevel level, const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  log_message(level, out.str());
}

}  // namespace slowfast
