// Tokenizer throughput on the fixture corpus (tests/data/tokenizer/tokenizer_fixture.jsonl) with
// the real Qwen tokenizer:
//  - load time of tokenizer.json;
//  - encode MB/s (UTF-8 input bytes): the first pass with an empty BPE cache, the steady state
//    over repeated passes, and the whole corpus as one long document;
//  - decode and streaming decode per id.
// Rates are per CPU second of this (single-threaded) process, so other load on a shared machine
// does not skew them; wall-clock rates are printed beside. Target: steady-state encode >= 5 MB/s.
// Exits non-zero when it is missed; skips (77) without the tokenizer.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../unit/tokenizer_test_support.h"
#include "tokenizer/tokenizer.h"

namespace {

constexpr int kSkip = 77;
constexpr double kTargetMegabytesPerSecond = 5.0;
constexpr double kMinSeconds = 2.0;

// Process CPU time and wall time, measured together.
struct Stopwatch {
  std::clock_t cpu_start = std::clock();
  std::chrono::steady_clock::time_point wall_start = std::chrono::steady_clock::now();
  double cpu() const { return double(std::clock() - cpu_start) / CLOCKS_PER_SEC; }
  double wall() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  }
};

}  // namespace

int main() {
  std::string reason;
  const std::string path = slowfast::test::reference_tokenizer_path(reason);
  const char* data = std::getenv("SLOWFAST_TEST_DATA");
  if (path.empty() || !data) {
    std::printf("SKIP: %s\n", path.empty() ? reason.c_str() : "SLOWFAST_TEST_DATA is not set");
    return kSkip;
  }
  std::vector<std::string> texts;
  size_t bytes = 0, id_count = 0;
  {
    std::ifstream in(std::string(data) + "/tokenizer/tokenizer_fixture.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      const auto record = nlohmann::json::parse(line);
      texts.push_back(record["text"].get<std::string>());
      bytes += texts.back().size();
      id_count += record["ids"].size();
    }
  }
  if (texts.empty()) {
    std::printf("FAIL: no fixture corpus\n");
    return 1;
  }

  Stopwatch watch;
  const auto tokenizer = slowfast::Tokenizer::load(path);
  const double load_cpu = watch.cpu(), load_wall = watch.wall();

  std::vector<std::vector<int64_t>> ids(texts.size());
  watch = Stopwatch();
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = tokenizer->encode(texts[i]);
  const double cold = bytes / watch.cpu() / 1e6, cold_wall = bytes / watch.wall() / 1e6;

  size_t passes = 0;
  watch = Stopwatch();
  do {
    for (const auto& text : texts) tokenizer->encode(text);
    ++passes;
  } while (watch.cpu() < kMinSeconds);
  const double warm = passes * bytes / watch.cpu() / 1e6;
  const double warm_wall = passes * bytes / watch.wall() / 1e6;

  std::string document;
  for (const auto& text : texts) document += text + "\n";
  watch = Stopwatch();
  const auto document_ids = tokenizer->encode(document);
  const double long_document = document.size() / watch.cpu() / 1e6;

  passes = 0;
  watch = Stopwatch();
  do {
    for (const auto& text_ids : ids) tokenizer->decode(text_ids);
    ++passes;
  } while (watch.cpu() < kMinSeconds);
  const double decode_ns = watch.cpu() / (passes * id_count) * 1e9;

  watch = Stopwatch();
  size_t streamed = 0;
  for (const auto& text_ids : ids) {
    slowfast::StreamDecoder stream(tokenizer);
    for (const int64_t id : text_ids) streamed += stream.push(id).size();
    streamed += stream.finish().size();
  }
  const double stream_ns = watch.cpu() / id_count * 1e9;

  std::printf("tokenizer: %s\n", path.c_str());
  std::printf("load: %.2f s CPU, %.2f s wall (%lld ids)\n", load_cpu, load_wall,
              static_cast<long long>(tokenizer->size()));
  std::printf("corpus: %zu strings, %.1f KB UTF-8, %zu ids (%.2f bytes/id)\n", texts.size(),
              bytes / 1e3, id_count, static_cast<double>(bytes) / id_count);
  std::printf("encode, first pass (empty BPE cache): %.1f MB/s (wall %.1f)\n", cold, cold_wall);
  std::printf("encode, steady state: %.1f MB/s (wall %.1f; target >= %.0f)\n", warm, warm_wall,
              kTargetMegabytesPerSecond);
  std::printf("encode, corpus as one %.1f KB document: %.1f MB/s (%zu ids)\n",
              document.size() / 1e3, long_document, document_ids.size());
  std::printf("decode: %.0f ns/id; streaming decode: %.0f ns/id (%zu bytes)\n", decode_ns,
              stream_ns, streamed);
  const bool ok = warm >= kTargetMegabytesPerSecond;
  std::printf("%s\n", ok ? "tokenizer target met" : "tokenizer target missed");
  return ok ? 0 : 1;
}
