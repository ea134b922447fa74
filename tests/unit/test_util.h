// Helpers shared by the unit tests: the error a call must throw, and which file a memory mapping
// of this process comes from.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

#include "slowfast.h"

namespace slowfast::test {

// Runs `body`, which must throw slowfast::Error whose message contains every piece of `parts`.
template <typename Body>
void expect_error(Body body, std::initializer_list<std::string> parts) {
  try {
    body();
    FAIL() << "no slowfast::Error thrown";
  } catch (const slowfast::Error& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message lacks '" << part << "': " << e.what();
    }
  }
}

// The file backing the memory mapping that contains `address`, from /proc/self/maps ("" if none).
inline std::string mapped_file_of(const void* address) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto target = reinterpret_cast<uintptr_t>(address);
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode, file;
    fields >> range >> perms >> offset >> device >> inode >> file;
    const size_t dash = range.find('-');
    const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (target >= begin && target < end) return file;
  }
  return "";
}

}  // namespace slowfast::test
