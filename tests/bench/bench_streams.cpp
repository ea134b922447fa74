// Many streams on one model: 1, 2, 4 and 8 concurrent streams through the public API (one Model,
// a Session per stream, as N elements on one model-location), on
//   (a) bench_text's Qwen2-0.5B-shaped random bf16 decoder behind a small tower (written with
//       make_random_checkpoint --shape streams), 256-token answers, and
//   (b) the demo model (model/demo), its own answer lengths.
// Each stream slides a 16-frame window by 4 frames: it encodes its 4 new frames one at a time
// (frame-encode latency), then answers the window (window latency: the window's last frame in ->
// answer). A run's clock starts once every stream holds its first window's 12 older frames, and
// one short answer before the first run takes the model's first-use costs out of the runs. The
// streams of a run share 2 windows each, taken by whichever stream is ready first, so a starved
// stream answers fewer (min_stream_share = the least-served stream's windows over the mean). Per N
// it prints aggregate decode tokens/s, windows/s, p50/p95 window latency, p95 frame-encode latency,
// each stream's share and the peak RSS; then, on (a), one stream encoding while 3 others generate
// against that stream encoding alone. The last line is one JSON object of model (a)'s figures.
// First it prints what bf16_gemv's products cost at 1, 4 and 8 rows on each of its paths (dpbf16,
// fma), and a prefill's products through oneDNN and bf16_gemm, measured in the same run.
//
// usage: bench_streams MAKE_RANDOM_CHECKPOINT [WORK_DIR]   (SLOWFAST_SOURCE_ROOT for model/demo;
// SLOWFAST_BENCH_THREADS for the intra-op threads, SLOWFAST_BENCH_STREAMS="1,4" for some counts,
// SLOWFAST_BENCH_WEIGHTS_IN_MEMORY=1 for LoadOptions::weights_in_memory)
// Targets (docs/performance.md, "Many streams"): (a) decode tokens/s at 8 streams >= 5x one
// stream, at 4 >= 3x; min_stream_share >= 0.8 at every N; the encode ratio <= 2; peak RSS at 8
// streams <= 1.2x one stream plus 7 KV caches. Exits 1 when one is missed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine_internal.h"
#include "layers/bf16_gemm.h"
#include "layers/bf16_gemv.h"
#include "slowfast.h"
#include "util/clock.h"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
using slowfast::seconds_since;

constexpr int kWindowFrames = 16;
constexpr int kHopFrames = 4;
constexpr int kWindowsPerStream = 2;
constexpr int kFrameSize = 192;
const std::vector<int> kStreamCounts = {1, 2, 4, 8};

// SLOWFAST_BENCH_STREAMS="1,4" runs only those counts (for profiling one; the targets need all).
std::vector<int> stream_counts() {
  const char* env = std::getenv("SLOWFAST_BENCH_STREAMS");
  if (!env || !*env) return kStreamCounts;
  std::vector<int> counts;
  for (const char* p = env; *p;) {
    char* end = nullptr;
    const long count = std::strtol(p, &end, 10);
    if (end == p || count < 1)
      throw slowfast::Error("SLOWFAST_BENCH_STREAMS: not a list of counts");
    counts.push_back(static_cast<int>(count));
    p = *end == ',' ? end + 1 : end;
  }
  return counts;
}

int64_t proc_status_bytes(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, key.size(), key) == 0)
      return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return values[index];
}

// A stream's frames: a moving gradient, different per stream and per frame.
std::vector<uint8_t> make_frame(int stream, int index) {
  std::vector<uint8_t> rgb(kFrameSize * kFrameSize * 3);
  for (int y = 0; y < kFrameSize; ++y) {
    for (int x = 0; x < kFrameSize; ++x) {
      uint8_t* p = &rgb[(y * kFrameSize + x) * 3];
      p[0] = static_cast<uint8_t>(x + 7 * index);
      p[1] = static_cast<uint8_t>(y + 31 * stream);
      p[2] = static_cast<uint8_t>((x ^ y) + 13 * index * (stream + 1));
    }
  }
  return rgb;
}

slowfast::FrameFeatures encode_one(const slowfast::Model& model, int stream, int index,
                                   std::vector<double>* latencies) {
  const std::vector<uint8_t> rgb = make_frame(stream, index);
  slowfast::FrameView view{rgb.data(), kFrameSize, kFrameSize, kFrameSize * 3};
  const auto start = Clock::now();
  slowfast::FrameFeatures features = model.encode_frames({view}).front();
  if (latencies) latencies->push_back(seconds_since(start));
  return features;
}

struct RunFigures {
  int streams = 0;
  double decode_tokens_per_s = 0;
  double windows_per_s = 0;
  double p50_window_ms = 0, p95_window_ms = 0;
  double p95_encode_ms = 0;
  double min_stream_share = 0;
  std::vector<int> windows_per_stream;
  int64_t peak_rss = 0;
  int64_t kv_cache_bytes = 0;  // one stream's
  double mean_batch = 0;       // answers per decode step
  // Tokens per second of the scheduler's decode steps alone, and the mean prefill: the wall-clock
  // figure above also pays one compute-bound prefill per window, which batching cannot share.
  double step_tokens_per_s = 0;
  double prefill_seconds = 0;
};

RunFigures run_streams(const std::shared_ptr<const slowfast::Model>& model, int streams,
                       int max_new_tokens) {
  RunFigures figures;
  figures.streams = streams;
  std::atomic<int> windows_left{streams * kWindowsPerStream};
  std::vector<std::vector<double>> window_latency(streams), encode_latency(streams);
  std::vector<int> answered(streams, 0);
  std::vector<int64_t> tokens(streams, 0), cache_bytes(streams, 0);
  reset_peak_rss();
  // The run starts once every stream holds its first window's older frames, which arrived
  // before it (encoding them is not part of the run's time).
  std::atomic<int> streams_ready{0};
  std::atomic<bool> run_started{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      slowfast::Session session(model);
      std::vector<slowfast::FrameFeatures> window;
      int next_frame = 0;
      while (static_cast<int>(window.size()) < kWindowFrames - kHopFrames) {
        window.push_back(encode_one(*model, s, next_frame++, nullptr));
      }
      streams_ready++;
      while (!run_started.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
      slowfast::GenerationParams params;
      params.max_new_tokens = max_new_tokens;
      params.temperature = 0;
      while (windows_left.fetch_sub(1) > 0) {
        const auto window_start = Clock::now();
        for (int i = 0; i < kHopFrames; ++i) {
          window.push_back(encode_one(*model, s, next_frame++, &encode_latency[s]));
        }
        window.erase(window.begin(), window.end() - kWindowFrames);
        const slowfast::Answer answer = session.answer(window, slowfast::kDefaultPrompt, params);
        window_latency[s].push_back(seconds_since(window_start));
        tokens[s] += static_cast<int64_t>(answer.output_ids.size());
        answered[s]++;
      }
      cache_bytes[s] = slowfast::session_cache_bytes(session);
    });
  }
  while (streams_ready.load() < streams)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  const slowfast::SchedulerStats before = slowfast::scheduler_stats(*model);
  const auto start = Clock::now();
  run_started = true;
  for (auto& thread : threads) thread.join();
  const double wall = seconds_since(start);
  figures.peak_rss = proc_status_bytes("VmHWM:");
  const slowfast::SchedulerStats after = slowfast::scheduler_stats(*model);
  figures.mean_batch = static_cast<double>(after.sequence_steps - before.sequence_steps) /
                       std::max<uint64_t>(1, after.decode_steps - before.decode_steps);
  figures.step_tokens_per_s = static_cast<double>(after.sequence_steps - before.sequence_steps) /
                              std::max(1e-9, after.decode_seconds - before.decode_seconds);
  figures.prefill_seconds = (after.prefill_seconds - before.prefill_seconds) /
                            std::max<uint64_t>(1, after.prefills - before.prefills);
  figures.kv_cache_bytes = *std::max_element(cache_bytes.begin(), cache_bytes.end());

  std::vector<double> windows, encodes;
  int64_t total_tokens = 0;
  int total_windows = 0;
  for (int s = 0; s < streams; ++s) {
    windows.insert(windows.end(), window_latency[s].begin(), window_latency[s].end());
    encodes.insert(encodes.end(), encode_latency[s].begin(), encode_latency[s].end());
    total_tokens += tokens[s];
    total_windows += answered[s];
  }
  figures.decode_tokens_per_s = total_tokens / wall;
  figures.windows_per_s = total_windows / wall;
  figures.p50_window_ms = 1e3 * percentile(windows, 0.50);
  figures.p95_window_ms = 1e3 * percentile(windows, 0.95);
  figures.p95_encode_ms = 1e3 * percentile(encodes, 0.95);
  const double mean = static_cast<double>(total_windows) / streams;
  figures.min_stream_share = *std::min_element(answered.begin(), answered.end()) / mean;
  figures.windows_per_stream = answered;
  return figures;
}

void print_run(const RunFigures& f) {
  std::string shares;
  for (int windows : f.windows_per_stream) shares += " " + std::to_string(windows);
  std::printf(
      "  %d stream(s): decode %.1f tokens/s, %.3f windows/s, window latency p50 %.0f ms p95 %.0f "
      "ms, frame encode p95 %.1f ms, windows per stream:%s (min share %.2f), %.2f answers per "
      "decode step, peak RSS %.2f GB; in decode steps %.1f tokens/s, prefill %.2f s per window\n",
      f.streams, f.decode_tokens_per_s, f.windows_per_s, f.p50_window_ms, f.p95_window_ms,
      f.p95_encode_ms, shares.c_str(), f.min_stream_share, f.mean_batch, f.peak_rss / 1e9,
      f.step_tokens_per_s, f.prefill_seconds);
  std::fflush(stdout);
}

// One short answer before any run: the first touches of the weights' pages, the allocator's
// first blocks and the kernel threads' start would otherwise fall in the one-stream run.
void warm_up(const std::shared_ptr<const slowfast::Model>& model) {
  std::vector<slowfast::FrameFeatures> window;
  for (int i = 0; i < kWindowFrames; ++i) window.push_back(encode_one(*model, 0, i, nullptr));
  slowfast::Session session(model);
  slowfast::GenerationParams params;
  params.max_new_tokens = 8;
  params.temperature = 0;
  session.answer(window, slowfast::kDefaultPrompt, params);
}

// One stream encoding 32 frames one at a time: alone, then while `busy` other streams generate
// answers of max_new_tokens. -> p95 latencies in ms {alone, with the others}.
std::pair<double, double> encode_while_others_generate(
    const std::shared_ptr<const slowfast::Model>& model, int busy, int max_new_tokens) {
  constexpr int kFrames = 32;
  std::vector<double> alone, loaded;
  for (int i = 0; i < kFrames; ++i) encode_one(*model, 0, i, &alone);

  std::vector<std::vector<slowfast::FrameFeatures>> windows(busy);
  for (int s = 0; s < busy; ++s) {
    for (int i = 0; i < kWindowFrames; ++i)
      windows[s].push_back(encode_one(*model, s + 1, i, nullptr));
  }
  std::atomic<int> generating{0};
  std::atomic<bool> encoder_done{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < busy; ++s) {
    threads.emplace_back([&, s] {
      slowfast::Session session(model);
      slowfast::GenerationParams params;
      params.max_new_tokens = max_new_tokens;
      params.temperature = 0;
      // Keeps generating until the encoding stream is done, so every one of its frames meets
      // the others' decode steps (not their prefills only).
      bool first = true;
      while (!encoder_done.load()) {
        session.answer(
            windows[s], slowfast::kDefaultPrompt, params,
            [&](const std::string&) {
              if (first) {
                first = false;
                generating++;
              }
            },
            [&] { return encoder_done.load(); });
      }
    });
  }
  while (generating.load() < busy) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 0; i < kFrames; ++i) encode_one(*model, 0, 100 + i, &loaded);
  encoder_done = true;
  for (auto& thread : threads) thread.join();
  return {1e3 * percentile(alone, 0.95), 1e3 * percentile(loaded, 0.95)};
}

std::string json_array(const std::vector<RunFigures>& runs,
                       const std::function<double(const RunFigures&)>& field) {
  std::string out = "[";
  for (size_t i = 0; i < runs.size(); ++i) {
    char number[32];
    std::snprintf(number, sizeof number, "%.4g", field(runs[i]));
    out += (i ? "," : "") + std::string(number);
  }
  return out + "]";
}

const char* verdict(bool met) {
  return met ? "met" : "NOT MET";
}

}  // namespace

// What a decode step's products cost at 1, 4 and 8 rows on each of bf16_gemv's paths, in one
// run: the batch ratio is decided here. Weights in anonymous memory, enough distinct matrices
// (about 600 MB) that they stream from memory as the model's do, not from the cache.
void print_kernel_table() {
  if (!slowfast::bf16_gemv_supported()) {
    std::printf("kernel: no AVX512-BF16 on this CPU, bf16_gemv is not used\n");
    return;
  }
  struct Shape {
    const char* name;
    int64_t n, k;
  };
  const bool fma_default = slowfast::bf16_gemv_default_path() == slowfast::Bf16GemvPath::kFma;
  std::printf("kernel (bf16_gemv, %d threads, default path %s): ms per product, GB/s of weights\n",
              at::get_num_threads(), fma_default ? "fma" : "dpbf16");
  for (const Shape& shape :
       {Shape{"gate/up 4864x896", 4864, 896}, Shape{"down 896x4864", 896, 4864},
        Shape{"lm_head 151936x896", 151936, 896}}) {
    const int64_t bytes = shape.n * shape.k * 2;
    const int64_t copies = std::max<int64_t>(1, int64_t{600} * 1000 * 1000 / bytes);
    std::vector<torch::Tensor> weights;
    for (int64_t c = 0; c < copies; ++c) {
      weights.push_back(torch::randn({shape.n, shape.k}).to(torch::kBFloat16));
    }
    std::printf("  %-20s", shape.name);
    for (const int rows : {1, 4, 8}) {
      const torch::Tensor x = torch::randn({rows, shape.k}).to(torch::kBFloat16);
      for (const auto path : {slowfast::Bf16GemvPath::kDotProduct, slowfast::Bf16GemvPath::kFma}) {
        for (const auto& weight : weights) slowfast::bf16_gemv(x, weight, {}, path);  // warm
        const auto start = Clock::now();
        constexpr int kPasses = 3;
        for (int pass = 0; pass < kPasses; ++pass) {
          for (const auto& weight : weights) slowfast::bf16_gemv(x, weight, {}, path);
        }
        const double ms = seconds_since(start) * 1e3 / double(kPasses * copies);
        std::printf(" | %d rows %s %.3f ms %.1f GB/s", rows,
                    path == slowfast::Bf16GemvPath::kFma ? "fma" : "dpbf16", ms, bytes / ms / 1e6);
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  }
}

// What a prefill's products cost (171 rows: a 16-frame window's prompt) through oneDNN and
// through bf16_gemm (layers/bf16_gemm.h), which the engine uses where it applies.
void print_prefill_products() {
  constexpr int64_t kRows = 171;
  const torch::Tensor probe_x = torch::zeros({kRows, 896}, torch::kBFloat16);
  if (!slowfast::bf16_gemm_applies(probe_x, torch::zeros({896, 896}, torch::kBFloat16))) {
    std::printf("prefill products: bf16_gemm is not used on this CPU\n");
    return;
  }
  struct Shape {
    const char* name;
    int64_t n, k;
  };
  std::printf("prefill products (%lld rows, %d threads): ms and GFLOP/s\n",
              static_cast<long long>(kRows), at::get_num_threads());
  for (const Shape& shape : {Shape{"gate/up 4864x896", 4864, 896},
                             Shape{"down 896x4864", 896, 4864}, Shape{"q/o 896x896", 896, 896}}) {
    const torch::Tensor x = torch::randn({kRows, shape.k}).to(torch::kBFloat16);
    const torch::Tensor weight = torch::randn({shape.n, shape.k}).to(torch::kBFloat16);
    const double gflop = 2.0 * kRows * shape.n * shape.k / 1e9;
    const auto best_ms = [&](const std::function<void()>& product) {
      product();  // warm
      double best = 1e30;
      for (int pass = 0; pass < 5; ++pass) {
        const auto start = Clock::now();
        product();
        best = std::min(best, seconds_since(start) * 1e3);
      }
      return best;
    };
    const double onednn =
        best_ms([&] { torch::nn::functional::linear(x, weight, torch::Tensor()); });
    const double gemm = best_ms([&] { slowfast::bf16_gemm_linear(x, weight, torch::Tensor()); });
    std::printf("  %-20s | oneDNN %.2f ms %.0f GFLOP/s | bf16_gemm %.2f ms %.0f GFLOP/s | %.2fx\n",
                shape.name, onednn, gflop / onednn * 1e3, gemm, gflop / gemm * 1e3, onednn / gemm);
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_streams MAKE_RANDOM_CHECKPOINT [WORK_DIR]\n");
    return 2;
  }
  try {
    const fs::path work =
        argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / "slowfast-bench-streams";
    const fs::path half_billion = work / "streams-model";
    if (!fs::exists(half_billion / "config.json")) {
      const std::string command = std::string("'") + argv[1] + "' checkpoint '" +
                                  half_billion.string() + "' --shape streams > /dev/null";
      if (std::system(command.c_str()) != 0) {
        throw slowfast::Error("could not write the benchmark model: " + command);
      }
    }
    if (const char* threads = std::getenv("SLOWFAST_BENCH_THREADS")) {
      at::set_num_threads(std::max(1, std::atoi(threads)));
    }
    print_kernel_table();
    print_prefill_products();
    const char* root = std::getenv("SLOWFAST_SOURCE_ROOT");
    const fs::path demo = fs::path(root ? root : ".") / "model/demo";

    bool all_met = true;
    std::vector<RunFigures> half_runs;
    for (const auto& [label, dir, tokens] :
         {std::tuple<const char*, fs::path, int>{"(a) 0.5B-shaped bf16, 256-token answers",
                                                 half_billion, 256},
          {"(b) demo model", demo, 1024}}) {
      slowfast::LoadOptions options;
      options.model_dir = dir.string();
      options.dtype = slowfast::DType::BFloat16;
      // SLOWFAST_BENCH_THREADS sets the intra-op threads (default: libtorch's, as the engine).
      if (const char* threads = std::getenv("SLOWFAST_BENCH_THREADS")) {
        options.num_threads = std::max(1, std::atoi(threads));
      }
      // SLOWFAST_BENCH_WEIGHTS_IN_MEMORY=1: weights copied into anonymous memory (LoadOptions).
      if (const char* in_memory = std::getenv("SLOWFAST_BENCH_WEIGHTS_IN_MEMORY")) {
        options.weights_in_memory = std::atoi(in_memory) != 0;
      }
      const auto model = slowfast::Model::load(options);
      warm_up(model);
      std::printf(
          "%s: max batch %d, %d intra-op threads, %d-frame windows every %d frames, %d windows "
          "per stream, weights %s\n",
          label, options.max_batch, at::get_num_threads(), kWindowFrames, kHopFrames,
          kWindowsPerStream, options.weights_in_memory ? "in anonymous memory" : "mapped");
      std::fflush(stdout);
      std::vector<RunFigures> runs;
      for (const int streams : stream_counts()) {
        runs.push_back(run_streams(model, streams, tokens));
        print_run(runs.back());
      }
      const auto stats = slowfast::scheduler_stats(*model);
      std::printf(
          "  scheduler: %llu decode steps advanced %llu answers (largest batch %lld), "
          "%llu vision calls for %llu frames\n",
          static_cast<unsigned long long>(stats.decode_steps),
          static_cast<unsigned long long>(stats.sequence_steps),
          static_cast<long long>(stats.largest_batch),
          static_cast<unsigned long long>(stats.vision_calls),
          static_cast<unsigned long long>(stats.frames_encoded));
      for (const RunFigures& run : runs) all_met = all_met && run.min_stream_share >= 0.8;
      if (tokens != 256 || runs.size() != kStreamCounts.size()) continue;

      half_runs = runs;
      const double at8 = runs[3].decode_tokens_per_s / runs[0].decode_tokens_per_s;
      const double at4 = runs[2].decode_tokens_per_s / runs[0].decode_tokens_per_s;
      const double rss_budget = 1.2 * runs[0].peak_rss + 7.0 * runs[0].kv_cache_bytes;
      const auto [alone_ms, loaded_ms] = encode_while_others_generate(model, 3, tokens);
      std::printf(
          "  decode tokens/s: 8 streams %.2fx one stream (target >= 5x: %s), 4 streams "
          "%.2fx (target >= 3x: %s)\n",
          at8, verdict(at8 >= 5), at4, verdict(at4 >= 3));
      // Each window's prefill runs alone (compute-bound), so with prefill P and steps of d1 at
      // one stream the wall-clock ratio at N streams stays below 1 + max_new_tokens * d1 / P.
      const double step1 = 1.0 / runs[0].step_tokens_per_s;
      std::printf(
          "  in decode steps alone: 8 streams %.2fx one stream, 4 streams %.2fx; prefill %.2f s "
          "per window bounds the wall-clock ratio at any N below %.2fx\n",
          runs[3].step_tokens_per_s / runs[0].step_tokens_per_s,
          runs[2].step_tokens_per_s / runs[0].step_tokens_per_s, runs[0].prefill_seconds,
          1.0 + tokens * step1 / runs[0].prefill_seconds);
      std::printf(
          "  frame encode p95 while 3 streams generate: %.1f ms, alone %.1f ms = %.2fx "
          "(target <= 2x: %s)\n",
          loaded_ms, alone_ms, loaded_ms / alone_ms, verdict(loaded_ms <= 2 * alone_ms));
      std::printf(
          "  peak RSS at 8 streams %.2f GB, budget 1.2 x %.2f GB + 7 KV caches of %.1f MB "
          "= %.2f GB (%s)\n",
          runs[3].peak_rss / 1e9, runs[0].peak_rss / 1e9, runs[0].kv_cache_bytes / 1e6,
          rss_budget / 1e9, verdict(runs[3].peak_rss <= rss_budget));
      std::fflush(stdout);
      all_met = all_met && at8 >= 5 && at4 >= 3 && loaded_ms <= 2 * alone_ms &&
                runs[3].peak_rss <= rss_budget;
    }
    std::printf(
        "{\"streams\":[1,2,4,8],\"decode_tokens_per_s\":%s,\"windows_per_s\":%s,"
        "\"p95_window_latency_ms\":%s,\"p95_encode_latency_ms\":%s,\"min_stream_share\":%s}\n",
        json_array(half_runs, [](const RunFigures& r) { return r.decode_tokens_per_s; }).c_str(),
        json_array(half_runs, [](const RunFigures& r) { return r.windows_per_s; }).c_str(),
        json_array(half_runs, [](const RunFigures& r) { return r.p95_window_ms; }).c_str(),
        json_array(half_runs, [](const RunFigures& r) { return r.p95_encode_ms; }).c_str(),
        json_array(half_runs, [](const RunFigures& r) { return r.min_stream_share; }).c_str());
    return all_met ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_streams: %s\n", e.what());
    return 2;
  }
}
