#include "util/log.h"

#include <iostream>
#include <mutex>

namespace slowfast {
namespace {

std::mutex& log_mutex() {
  static std::mutex mutex;
  return mutex;
}

LogCallback& log_callback() {
  static LogCallback callback;
  return callback;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warning:
      return "warning";
    case LogLevel::Error:
      return "error";
  }
  return "?";
}

}  // namespace

void set_log_callback(LogCallback callback) {
  std::lock_guard<std::mutex> lock(log_mutex());
  log_callback() = std::move(callback);
}

void log_message(LogLevel level, const std::string& message) {
  std::lock_guard<std::mutex> lock(log_mutex());
  if (log_callback()) {
    log_callback()(level, message);
  } else if (level >= LogLevel::Warning) {
    std::cerr << "slowfast " << level_name(level) << ": " << message << "\n";
  }
}

}  // namespace slowfast
