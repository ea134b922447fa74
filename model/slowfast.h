// The one public header of the Slow-Fast engine. It includes no libtorch header, so callers
// (the GStreamer element, tools) build without torch's include paths.
//
// Every function here reports failure by throwing slowfast::Error (never another type); callers
// that must not let exceptions escape (GLib callbacks) catch slowfast::Error and std::exception.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace slowfast {

// The single exception type of the API: a message that names the file, tensor or setting at fault.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Device { Auto, Cpu, Cuda };
enum class DType { Auto, Float32, BFloat16 };

const char* to_string(Device device);
const char* to_string(DType dtype);

enum class LogLevel { Debug, Info, Warning, Error };
using LogCallback = std::function<void(LogLevel level, const std::string& message)>;
// Routes the engine's log lines (default: warnings and errors to stderr). Thread-safe.
void set_log_callback(LogCallback callback);

// Progress of Model::load(): `fraction` from 0 to 1 of the tensors placed (mapped or converted),
// `stage` says what is being done ("config", "tokenizer", "weights", "done").
using LoadProgress = std::function<void(double fraction, const std::string& stage)>;

struct LoadOptions {
  std::string model_dir;  // Hugging Face layout: config.json, *.safetensors, tokenizer files
  Device device = Device::Auto;
  DType dtype = DType::Auto;  // Auto: bfloat16 on CUDA or a CPU with AVX512-BF16, else float32
  int num_threads = 0;        // intra-op threads; 0 = leave libtorch's default
  // CPU: copy the weights into process memory (huge pages where available) instead of sharing
  // the checkpoint's page cache; faster decode on machines where large file mappings stream
  // slowly (docs/performance.md), at the cost of a copy at load and no sharing.
  bool weights_in_memory = false;
  // Answers decoded together at most: every Session on this model shares one scheduler, and a
  // decode step advances up to this many answers while reading each weight once. A CPU step is
  // bound by memory bandwidth, so up to 8 answers cost little more than one; a GPU gains from far
  // larger batches. Decode steps are bit-identical to decoding alone with the CPU's bf16 kernel (up
  // to 64 per step), within rounding otherwise (float32, GPU, larger steps); bf16 frame features
  // can differ in their last bit with the frames that share a vision call. 1..256.
  int max_batch = 8;
  LoadProgress on_progress;  // called on the loading thread; may be empty
};

// The question asked when none is given (the element's `prompt`, slowfast-cli's --prompt): the
// release's own evaluation prompt.
inline constexpr const char* kDefaultPrompt = "Please describe this video in detail.";

// Sampling and length of one answer. These defaults are the element's property defaults and
// slowfast-cli's.
struct GenerationParams {
  int max_new_tokens = 1024;
  float temperature = 0.2f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;  // 0 = off
  float repetition_penalty = 1.0f;
  uint64_t seed = 0;
};

// One RGB frame, 8 bits per channel, rows `stride` bytes apart. Not owned.
struct FrameView {
  const uint8_t* rgb = nullptr;
  int width = 0;
  int height = 0;
  int stride = 0;
};

// A frame's spatially pooled visual tokens (spec section 5 step 1), computed once and reused by
// every window that contains the frame. Cheap to copy (shared, immutable).
class FrameFeatures {
 public:
  FrameFeatures();
  ~FrameFeatures();
  FrameFeatures(const FrameFeatures&);
  FrameFeatures& operator=(const FrameFeatures&);
  bool empty() const;
  struct Impl;
  explicit FrameFeatures(std::shared_ptr<const Impl> impl);
  const std::shared_ptr<const Impl>& impl() const { return impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

struct ModelInfo {
  std::string id;  // the checkpoint directory's name, or config "_name_or_path"
  int image_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int tokens_per_frame = 0;  // pooled tokens per frame (81 for the release)
  std::string device;        // "cpu" or "cuda"
  std::string dtype;         // "float32" or "bfloat16"
};

// Returns true to stop generation; checked before every decode step.
using AbortPredicate = std::function<bool()>;
// Called with each piece of newly completed UTF-8 text as tokens are generated.
using TokenCallback = std::function<void(const std::string& piece)>;

struct Answer {
  std::string text;                // special tokens skipped, surrounding whitespace stripped
  std::vector<int64_t> input_ids;  // prompt ids, -200 at the image position
  std::vector<int64_t> output_ids;
  bool aborted = false;
  double vision_seconds = 0;  // pooling into fast/slow tokens
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// An immutable, shareable model: config, weights, tokenizer and the scheduler that runs its
// forward passes. Thread-safe for concurrent encode_frames() and Session use: concurrent callers'
// frames are encoded in shared vision calls and their answers decoded together (LoadOptions).
class Model {
 public:
  static std::shared_ptr<const Model> load(const LoadOptions& options);
  ~Model();

  const ModelInfo& info() const;

  // Frames of any size -> one FrameFeatures each (preprocess, vision tower, projector, spatial
  // pooling). Batched internally. A window of a single frame is answered as an image, from the
  // frame's unpooled tokens: pass keep_unpooled = true for frames that may form such a window.
  std::vector<FrameFeatures> encode_frames(const std::vector<FrameView>& frames,
                                           bool keep_unpooled = false) const;

  // Text helpers for tools and tests.
  std::vector<int64_t> tokenize(const std::string& text) const;
  std::string detokenize(const std::vector<int64_t>& ids, bool skip_special = true) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Per-request state (KV cache, cross-attention memory), reused across windows. One thread at a
// time; create one per worker.
class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Answers `question` about a window of frames (oldest first) with the qwen_1_5 chat template.
  Answer answer(const std::vector<FrameFeatures>& window, const std::string& question,
                const GenerationParams& params, const TokenCallback& on_token = nullptr,
                const AbortPredicate& should_abort = nullptr);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace slowfast
