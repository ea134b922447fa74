// slowfast-cli run: answers a prompt about frames (.npy) or a video file, optionally dumping the
// intermediate tensors other tools compare against the reference.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/video_decode.h"
#include "engine_internal.h"
#include "slowfast.h"
#include "tools/npy.h"
#include "util/clock.h"

namespace slowfast::cli {
namespace {

constexpr int64_t kReferenceFrames = 64;

const char* const kUsage =
    "usage: slowfast-cli run --model DIR (--frames FILE.npy | --video FILE) [--prompt TEXT]\n"
    "         [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K]\n"
    "         [--repetition-penalty R] [--seed S] [--dtype auto|float32|bfloat16]\n"
    "         [--device auto|cpu|cuda] [--threads N] [--weights-in-memory] [--dump DIR]\n"
    "         [--timings]\n"
    "  --frames   uint8 [T, H, W, 3] RGB frames, used as given\n"
    "  --video    decoded with GStreamer; 64 frames sampled as linspace(0, n-1, 64)\n"
    "  --temperature 0 is greedy decoding\n"
    "  --dump     writes pixel_values.npy [T,3,S,S], vision_features.npy [T,N,H],\n"
    "             fast_tokens.npy [F,H], slow_tokens.npy [M,H], prefill_logits.npy [V]\n"
    "             (float32) and tokens.json {input_ids, output_ids, text}\n"
    "  --timings  prints load, vision, prefill and decode seconds, token counts and\n"
    "             peak RSS to stderr as 'timings: key=value ...' lines\n"
    "  --weights-in-memory  copies the weights into process memory (huge pages where\n"
    "             available) instead of sharing the checkpoint's page cache\n";

struct RunOptions {
  LoadOptions load;
  GenerationParams generation;
  std::string frames_path, video_path, prompt = kDefaultPrompt, dump_dir;
  bool timings = false;
};

double parse_number(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0') throw Error(flag + " expects a number, got '" + value + "'");
  return number;
}

RunOptions parse(int argc, char** argv) {
  RunOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flag == "--timings") {
      options.timings = true;
      continue;
    }
    if (flag == "--weights-in-memory") {
      options.load.weights_in_memory = true;
      continue;
    }
    if (i + 1 >= argc) throw Error(flag + " needs a value\n" + kUsage);
    const std::string value = argv[++i];
    if (flag == "--model")
      options.load.model_dir = value;
    else if (flag == "--frames")
      options.frames_path = value;
    else if (flag == "--video")
      options.video_path = value;
    else if (flag == "--prompt")
      options.prompt = value;
    else if (flag == "--dump")
      options.dump_dir = value;
    else if (flag == "--max-new-tokens")
      options.generation.max_new_tokens = static_cast<int>(parse_number(flag, value));
    else if (flag == "--temperature")
      options.generation.temperature = static_cast<float>(parse_number(flag, value));
    else if (flag == "--top-p")
      options.generation.top_p = static_cast<float>(parse_number(flag, value));
    else if (flag == "--top-k")
      options.generation.top_k = static_cast<int>(parse_number(flag, value));
    else if (flag == "--repetition-penalty")
      options.generation.repetition_penalty = static_cast<float>(parse_number(flag, value));
    else if (flag == "--seed")
      options.generation.seed = static_cast<uint64_t>(parse_number(flag, value));
    else if (flag == "--threads")
      options.load.num_threads = static_cast<int>(parse_number(flag, value));
    else if (flag == "--dtype") {
      if (value == "auto")
        options.load.dtype = DType::Auto;
      else if (value == "float32")
        options.load.dtype = DType::Float32;
      else if (value == "bfloat16")
        options.load.dtype = DType::BFloat16;
      else
        throw Error("--dtype must be auto, float32 or bfloat16, got '" + value + "'");
    } else if (flag == "--device") {
      if (value == "auto")
        options.load.device = Device::Auto;
      else if (value == "cpu")
        options.load.device = Device::Cpu;
      else if (value == "cuda")
        options.load.device = Device::Cuda;
      else
        throw Error("--device must be auto, cpu or cuda, got '" + value + "'");
    } else {
      throw Error("unknown option '" + flag + "'\n" + kUsage);
    }
  }
  if (options.load.model_dir.empty()) throw Error(std::string("--model is required\n") + kUsage);
  if (options.frames_path.empty() == options.video_path.empty()) {
    throw Error(std::string("give exactly one of --frames and --video\n") + kUsage);
  }
  if (options.generation.max_new_tokens < 1) throw Error("--max-new-tokens must be at least 1");
  return options;
}

torch::Tensor load_frames(const RunOptions& options) {
  if (!options.video_path.empty()) return decode_video_frames(options.video_path, kReferenceFrames);
  torch::Tensor frames = read_npy(options.frames_path);
  if (frames.scalar_type() != torch::kUInt8 || frames.dim() != 4 || frames.size(3) != 3 ||
      frames.size(0) < 1) {
    throw Error("--frames '" + options.frames_path +
                "' must hold uint8 [T, H, W, 3] RGB frames, got " +
                std::string(c10::toString(frames.scalar_type())) + " " + c10::str(frames.sizes()));
  }
  return frames;
}

// A "Vm..."/"Rss..." line of /proc/self/status in bytes, or -1 where there is none (not Linux).
long long proc_status_bytes(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) {
      return std::stoll(line.substr(key.size() + 1)) * 1024;  // "VmHWM:   1234 kB"
    }
  }
  return -1;
}

// Processor seconds of this process, all threads: on a shared machine, the share of a core the
// run got is cpu / wall.
double cpu_seconds() {
  return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

// Phase durations of one run, for --timings: wall seconds, and CPU seconds where they help.
struct RunTimings {
  double load = 0, preprocess = 0, vision = 0, pooling = 0;
  double load_cpu = 0, vision_cpu = 0, answer_cpu = 0;
  // Right after loading (the input frames included): the peak so far and the anonymous part,
  // which is all the weights do not explain when they stay mapped from the page cache.
  long long load_peak_rss = -1, load_rss_anon = -1;
};

// Decode forward passes: every generated token after the first, plus the step that produced a
// stop token (generate() leaves it out of output_ids).
long long decode_steps(const Answer& answer, int max_new_tokens) {
  const auto count = static_cast<long long>(answer.output_ids.size());
  const bool stopped = !answer.aborted && count < max_new_tokens;
  return stopped ? count : std::max(0LL, count - 1);
}

// Key=value lines a script can parse and a person can read.
void print_timings(const RunTimings& timings, const Answer& answer, const Trace& trace,
                   int64_t frame_count, int max_new_tokens) {
  const long long text_tokens = static_cast<long long>(answer.input_ids.size()) - 1;
  const long long visual_tokens = trace.fast_tokens.size(0);
  const long long prompt_tokens = text_tokens + visual_tokens;
  const long long steps = decode_steps(answer, max_new_tokens);
  std::fprintf(stderr,
               "timings: load_s=%.3f load_cpu_s=%.3f frames=%lld preprocess_s=%.3f vision_s=%.3f "
               "vision_cpu_s=%.3f vision_s_per_frame=%.3f pooling_s=%.3f\n",
               timings.load, timings.load_cpu, static_cast<long long>(frame_count),
               timings.preprocess, timings.vision, timings.vision_cpu, timings.vision / frame_count,
               timings.pooling);
  std::fprintf(stderr, "timings: load_peak_rss_bytes=%lld load_rss_anon_bytes=%lld\n",
               timings.load_peak_rss, timings.load_rss_anon);
  std::fprintf(stderr,
               "timings: prompt_tokens=%lld text_tokens=%lld visual_tokens=%lld "
               "memory_tokens=%lld prefill_s=%.3f prefill_tokens_per_s=%.2f\n",
               prompt_tokens, text_tokens, visual_tokens,
               static_cast<long long>(trace.slow_tokens.size(0)), answer.prefill_seconds,
               prompt_tokens / answer.prefill_seconds);
  std::fprintf(stderr,
               "timings: new_tokens=%lld decode_steps=%lld decode_s=%.3f "
               "decode_tokens_per_s=%.3f prefill_decode_cpu_s=%.3f\n",
               static_cast<long long>(answer.output_ids.size()), steps, answer.decode_seconds,
               steps > 0 ? steps / answer.decode_seconds : 0.0, timings.answer_cpu);
  // Resident set: peak, and at the end split into anonymous memory and mapped files (the
  // checkpoint's pages shared with the page cache count as file-backed).
  std::fprintf(stderr, "timings: peak_rss_bytes=%lld rss_anon_bytes=%lld rss_file_bytes=%lld\n",
               proc_status_bytes("VmHWM"), proc_status_bytes("RssAnon"),
               proc_status_bytes("RssFile"));
}

void dump_tensor(const std::string& dir, const std::string& name, const torch::Tensor& tensor) {
  write_npy((std::filesystem::path(dir) / name).string(),
            tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous());
}

}  // namespace

int run_run(int argc, char** argv) {
  const RunOptions options = parse(argc, argv);
  const torch::Tensor frames = load_frames(options);
  RunTimings timings;
  auto start = Clock::now();
  double cpu_start = cpu_seconds();
  auto model = Model::load(options.load);
  timings.load = seconds_since(start);
  timings.load_cpu = cpu_seconds() - cpu_start;
  timings.load_peak_rss = proc_status_bytes("VmHWM");
  timings.load_rss_anon = proc_status_bytes("RssAnon");
  Session session(model);

  // The same path the element takes: per-frame features, then a window of them.
  torch::NoGradGuard no_grad;
  start = Clock::now();
  const torch::Tensor pixels = preprocess_frames_tensor(*model, frames);
  timings.preprocess = seconds_since(start);
  start = Clock::now();
  cpu_start = cpu_seconds();
  const torch::Tensor features = vision_features(*model, pixels);
  timings.vision = seconds_since(start);
  timings.vision_cpu = cpu_seconds() - cpu_start;
  start = Clock::now();
  const bool single_frame = frames.size(0) == 1;
  const std::vector<FrameFeatures> window = frame_features(*model, features, single_frame);
  timings.pooling = seconds_since(start);

  Trace trace;
  const bool want_trace = !options.dump_dir.empty() || options.timings;
  cpu_start = cpu_seconds();
  const Answer answer = answer_with_trace(session, window, options.prompt, options.generation,
                                          nullptr, nullptr, want_trace ? &trace : nullptr);
  timings.answer_cpu = cpu_seconds() - cpu_start;
  std::cout << answer.text << std::endl;
  if (options.timings) {
    timings.pooling += answer.vision_seconds;  // the window's slow/fast split
    print_timings(timings, answer, trace, frames.size(0), options.generation.max_new_tokens);
  }

  if (!options.dump_dir.empty()) {
    std::filesystem::create_directories(options.dump_dir);
    dump_tensor(options.dump_dir, "pixel_values.npy", pixels);
    dump_tensor(options.dump_dir, "vision_features.npy", features);
    dump_tensor(options.dump_dir, "fast_tokens.npy", trace.fast_tokens);
    dump_tensor(options.dump_dir, "slow_tokens.npy", trace.slow_tokens);
    dump_tensor(options.dump_dir, "prefill_logits.npy", trace.prefill_logits);
    nlohmann::json tokens = {{"input_ids", answer.input_ids},
                             {"output_ids", answer.output_ids},
                             // As the reference decodes: special tokens skipped, nothing stripped.
                             {"text", model->detokenize(answer.output_ids, true)}};
    const auto path = std::filesystem::path(options.dump_dir) / "tokens.json";
    std::ofstream out(path);
    out << tokens.dump() << "\n";
    if (!out) throw Error("cannot write " + path.string());
  }
  return 0;
}

}  // namespace slowfast::cli
