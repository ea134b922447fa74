// Shared by the libFuzzer harnesses. The parsers under test read files (mmap, ifstream) as they
// do in use, so each input is written to a scratch file first.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace slowfast::fuzz {

// A per-process directory in /dev/shm (memory: millions of inputs do not wear the disk),
// removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    namespace fs = std::filesystem;
    const fs::path base =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path made = base / ("slowfast-fuzz-" + std::to_string(getpid()));
    fs::create_directories(made);
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(scratch_dir(), ignored);
    });
    return made;
  }();
  return dir;
}

// Writes `size` bytes to `name` in the scratch directory; returns the file's path.
inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// A harness's own check failed: abort so libFuzzer (or the replay driver) reports the input.
inline void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz harness check failed: %s\n", what);
    std::abort();
  }
}

}  // namespace slowfast::fuzz
