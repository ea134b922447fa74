// Checkpoint loading: opening a memory-mapped safetensors checkpoint and touching one tensor
// versus reading the whole file, on a generated ~2 GiB bf16 checkpoint. Prints the figures; the
// target is a ratio of at least 100 (docs/performance.md, "Checkpoint loading").
//
// The file is written to $SLOWFAST_BENCH_DIR (default: the system temp directory) and deleted
// afterwards. "Cold" runs first evict the file from the page cache with
// posix_fadvise(DONTNEED) (no root needed) and report how much stayed resident; "warm" runs read
// a fully cached file.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "checkpoint/safetensors.h"
#include "slowfast.h"
#include "util/clock.h"

namespace {

namespace fs = std::filesystem;
using slowfast::Clock;
using slowfast::seconds_since;

// 64 matrices of 4096x4096 bf16 (32 MiB each, 2 GiB in all), plus one small norm vector: the
// shape mix of a 7B model's MLP weights.
constexpr int kLargeTensors = 64;
constexpr int64_t kRows = 4096;
constexpr int64_t kCols = 4096;
constexpr int kWarmRepeats = 5;
constexpr char kSmallTensor[] = "model.norm.weight";

// CPU seconds of the whole process (all threads), immune to other jobs on the machine; I/O waits
// are not in it, so it is reported beside wall-clock time, never instead of it.
double cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

struct Cost {
  double wall = 0;
  double cpu = 0;
};

class Stopwatch {
 public:
  Cost elapsed() const { return {seconds_since(wall_), cpu_seconds() - cpu_}; }

 private:
  Clock::time_point wall_ = Clock::now();
  double cpu_ = cpu_seconds();
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::string large_name(int i) {
  return "model.layers." + std::to_string(i) + ".mlp.weight";
}

// Streams the checkpoint to disk one tensor at a time (never 2 GiB in memory).
void write_checkpoint(const std::string& path) {
  nlohmann::json header = nlohmann::json::object();
  const uint64_t large_bytes = kRows * kCols * 2;
  uint64_t offset = 0;
  for (int i = 0; i < kLargeTensors; ++i) {
    header[large_name(i)] = {{"dtype", "BF16"},
                             {"shape", {kRows, kCols}},
                             {"data_offsets", {offset, offset + large_bytes}}};
    offset += large_bytes;
  }
  header[kSmallTensor] = {
      {"dtype", "BF16"}, {"shape", {kCols}}, {"data_offsets", {offset, offset + kCols * 2}}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary);
  const uint64_t length = text.size();
  out.write(reinterpret_cast<const char*>(&length), sizeof(length));  // little-endian host
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (int i = 0; i < kLargeTensors; ++i) {
    const torch::Tensor tensor =
        torch::full({kRows, kCols}, 0.01 * (i + 1), torch::TensorOptions().dtype(torch::kBFloat16));
    out.write(static_cast<const char*>(tensor.data_ptr()),
              static_cast<std::streamsize>(large_bytes));
  }
  const torch::Tensor norm = torch::ones({kCols}, torch::TensorOptions().dtype(torch::kBFloat16));
  out.write(static_cast<const char*>(norm.data_ptr()), kCols * 2);
  out.close();
  if (!out) throw slowfast::Error("bench: failed writing " + path);
}

// Drops the file's clean pages from the page cache; returns the fraction still resident.
double evict(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw slowfast::Error("bench: cannot open " + path);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  struct stat st {};
  ::fstat(fd, &st);
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages((size + page - 1) / page);
  double resident = 0;
  if (map != MAP_FAILED && ::mincore(map, size, pages.data()) == 0) {
    size_t count = 0;
    for (unsigned char flag : pages) count += flag & 1;
    resident = static_cast<double>(count) / static_cast<double>(pages.size());
  }
  if (map != MAP_FAILED) ::munmap(map, size);
  return resident;
}

// Open the checkpoint directory and read every element of one tensor (as float32, as a loader
// that converts would). `checksum` keeps the work observable.
Cost open_and_touch(const std::string& dir, const std::string& name, double& checksum) {
  const Stopwatch stopwatch;
  const auto checkpoint = slowfast::Checkpoint::open(dir);
  checksum += checkpoint.get(name, torch::kFloat32).sum().item<double>();
  return stopwatch.elapsed();
}

// read() the whole file into `buffer` (already allocated and faulted in).
Cost read_all(const std::string& path, std::vector<char>& buffer) {
  const Stopwatch stopwatch;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw slowfast::Error("bench: cannot open " + path);
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t got = ::read(fd, buffer.data() + done, buffer.size() - done);
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  if (done != buffer.size()) throw slowfast::Error("bench: short read of " + path);
  return stopwatch.elapsed();
}

// Open the checkpoint and read one byte of every page of every tensor: the page-fault cost a first
// full forward pass pays for lazily mapped weights.
Cost open_and_touch_all(const std::string& dir, double& checksum) {
  const Stopwatch stopwatch;
  const auto checkpoint = slowfast::Checkpoint::open(dir);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  uint64_t sum = 0;
  for (const auto& name : checkpoint.names()) {
    const torch::Tensor view = checkpoint.get(name);
    const auto* bytes = static_cast<const volatile uint8_t*>(view.data_ptr());
    const size_t size = static_cast<size_t>(view.numel()) * view.element_size();
    for (size_t i = 0; i < size; i += page) sum += bytes[i];
  }
  checksum += static_cast<double>(sum);
  return stopwatch.elapsed();
}

// read() the whole file into a newly allocated buffer: an eager loader's cost, including the
// faults of the fresh destination memory.
Cost read_all_fresh(const std::string& path, double& checksum) {
  const Stopwatch stopwatch;
  std::vector<char> buffer(fs::file_size(path));
  read_all(path, buffer);
  checksum += buffer[buffer.size() / 2];
  return stopwatch.elapsed();
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
};

}  // namespace

int main() {
  try {
    const char* base = std::getenv("SLOWFAST_BENCH_DIR");
    std::string pattern =
        ((base != nullptr ? fs::path(base) : fs::temp_directory_path()) / "slowfast-bench-XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr) throw slowfast::Error("bench: mkdtemp failed");
    TempDir dir{pattern};
    const std::string file = (dir.path / "model.safetensors").string();

    std::printf("checkpoint loading benchmark\n");
    std::printf("machine: %s, %ld cores, %ld MiB RAM\n", cpu_model().c_str(),
                ::sysconf(_SC_NPROCESSORS_ONLN),
                ::sysconf(_SC_PHYS_PAGES) * ::sysconf(_SC_PAGESIZE) / (1 << 20));
    double load[3] = {0, 0, 0};
    if (::getloadavg(load, 3) == 3) {
      std::printf("load average: %.2f %.2f %.2f (other work on the machine skews timings)\n",
                  load[0], load[1], load[2]);
    }
    auto start = Clock::now();
    write_checkpoint(file);
    const double file_mib = static_cast<double>(fs::file_size(file)) / (1 << 20);
    std::printf("generated %s: %.0f MiB, %d bf16 tensors of %ldx%ld + %s, in %.1f s\n",
                file.c_str(), file_mib, kLargeTensors, static_cast<long>(kRows),
                static_cast<long>(kCols), kSmallTensor, seconds_since(start));

    std::vector<char> buffer(fs::file_size(file));
    std::memset(buffer.data(), 1, buffer.size());  // fault the destination in outside the timing
    double checksum = 0;

    // Cold: each measurement starts with the file evicted from the page cache.
    const double resident_small = evict(file);
    const Cost cold_small = open_and_touch(dir.path.string(), kSmallTensor, checksum);
    const double resident_large = evict(file);
    const Cost cold_large = open_and_touch(dir.path.string(), large_name(31), checksum);
    const double resident_read = evict(file);
    const Cost cold_read = read_all(file, buffer);

    // Warm: the whole file is cached (the cold read just loaded it). Medians per column.
    std::vector<double> small_wall, small_cpu, large_wall, large_cpu, read_wall, read_cpu;
    for (int i = 0; i < kWarmRepeats; ++i) {
      const Cost small = open_and_touch(dir.path.string(), kSmallTensor, checksum);
      const Cost large = open_and_touch(dir.path.string(), large_name(i), checksum);
      const Cost read = read_all(file, buffer);
      small_wall.push_back(small.wall);
      small_cpu.push_back(small.cpu);
      large_wall.push_back(large.wall);
      large_cpu.push_back(large.cpu);
      read_wall.push_back(read.wall);
      read_cpu.push_back(read.cpu);
    }
    const Cost warm_small{median(small_wall), median(small_cpu)};
    const Cost warm_large{median(large_wall), median(large_cpu)};
    const Cost warm_read{median(read_wall), median(read_cpu)};

    std::printf("\n%-44s %12s %12s %12s\n", "", "cold wall", "warm wall", "warm CPU");
    auto row = [](const char* what, const Cost& cold, const Cost& warm) {
      std::printf("%-44s %9.3f ms %9.3f ms %9.3f ms\n", what, cold.wall * 1e3, warm.wall * 1e3,
                  warm.cpu * 1e3);
    };
    row("(a) open + touch one small tensor (8 KiB)", cold_small, warm_small);
    row("(a') open + touch one large tensor (32 MiB)", cold_large, warm_large);
    row("(b) read() the whole file into a buffer", cold_read, warm_read);
    std::printf("%-44s %12.0f %12.0f %12.0f\n", "ratio (b) / (a)", cold_read.wall / cold_small.wall,
                warm_read.wall / warm_small.wall, warm_read.cpu / warm_small.cpu);
    std::printf("%-44s %12.1f %12.1f %12.1f\n", "ratio (b) / (a')",
                cold_read.wall / cold_large.wall, warm_read.wall / warm_large.wall,
                warm_read.cpu / warm_large.cpu);
    std::printf("%-44s %7.0f MiB/s %7.0f MiB/s\n", "read() throughput", file_mib / cold_read.wall,
                file_mib / warm_read.wall);

    // First full use, warm cache, one run each: every page of the mapping faulted in, against an
    // eager read into memory that is itself faulted in on first write.
    const Cost touch_all = open_and_touch_all(dir.path.string(), checksum);
    const Cost read_fresh = read_all_fresh(file, checksum);
    std::printf("\nfirst full use (warm cache, one run)          %9s    %9s\n", "wall", "CPU");
    std::printf("%-44s %9.0f ms %9.0f ms\n", "(c) open + touch every page of the mapping",
                touch_all.wall * 1e3, touch_all.cpu * 1e3);
    std::printf("%-44s %9.0f ms %9.0f ms\n", "(d) read() into a freshly allocated buffer",
                read_fresh.wall * 1e3, read_fresh.cpu * 1e3);
    std::printf("page-cache residency before cold runs: %.1f%% / %.1f%% / %.1f%%\n",
                100 * resident_small, 100 * resident_large, 100 * resident_read);
    std::printf("warm figures: median of %d runs; checksum %.1f\n", kWarmRepeats, checksum);
    const double ratio =
        std::min(cold_read.wall / cold_small.wall, warm_read.wall / warm_small.wall);
    std::printf("target ratio (b)/(a) >= 100: %s (worst of cold and warm wall clock: %.0f)\n",
                ratio >= 100 ? "met" : "NOT met", ratio);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_checkpoint: %s\n", e.what());
    return 1;
  }
}
