// The public API (slowfast.h) over the engine's layers: loading, per-frame encoding, answering.
#include "engine_internal.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "checkpoint/config.h"
#include "checkpoint/config_check.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/weights.h"
#include "device.h"
#include "prompt.h"
#include "scheduler.h"
#include "slowfast_model.h"
#include "text/generate.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/clock.h"
#include "util/log.h"
#include "vision/pooling.h"
#include "vision/preprocess.h"

namespace slowfast {
namespace {

namespace fs = std::filesystem;

// Frames encoded per vision-tower call: bounds the activations of the 576 px tower.
constexpr int64_t kVisionBatch = 8;
// The largest max_batch accepted: far beyond what pays on a CPU, room for a GPU.
constexpr int kMaxBatchLimit = 256;

std::string strip(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\n\r\f\v");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\n\r\f\v");
  return text.substr(first, last - first + 1);
}

}  // namespace

// ---- Model ----------------------------------------------------------------------------------

struct Model::Impl {
  Config config;
  std::shared_ptr<const Tokenizer> tokenizer;
  // Forward passes are not const in libtorch; the weights never change after load().
  mutable SlowFastForCausalLM net{nullptr};
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
  ModelInfo info;
  std::vector<int64_t> stop_ids;
  int64_t vocab_limit = 0;
  // Every forward pass of this model runs on the scheduler's threads: the vision tower on one,
  // the decoder on the other (the towers share no module). Declared last: its threads stop
  // before the modules go.
  std::unique_ptr<Scheduler> scheduler;
};

namespace {

// The scheduler's vision call: pixels [T <= kVisionBatch, 3, S, S] -> [T, N, H].
torch::Tensor encode_vision_batch(const Model::Impl& impl, const torch::Tensor& frames) {
  torch::NoGradGuard no_grad;
  // For a GPU the float32 frames go as they are, asynchronously from pinned memory, and are cast
  // there: a cast within the copy would first convert on the host, into pageable memory.
  const torch::Tensor batch =
      impl.device.is_cuda()
          ? frames.to(impl.device, frames.scalar_type(), /*non_blocking=*/frames.is_pinned())
                .to(impl.dtype)
          : frames.to(impl.device, impl.dtype);
  return impl.net->model->encode_images(batch);
}

}  // namespace

FrameFeatures::FrameFeatures() = default;
FrameFeatures::~FrameFeatures() = default;
FrameFeatures::FrameFeatures(const FrameFeatures&) = default;
FrameFeatures& FrameFeatures::operator=(const FrameFeatures&) = default;
FrameFeatures::FrameFeatures(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
bool FrameFeatures::empty() const {
  return !impl_ || !impl_->pooled.defined();
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelInfo& Model::info() const {
  return impl_->info;
}

std::shared_ptr<const Model> Model::load(const LoadOptions& options) {
  try {
    const fs::path dir(options.model_dir);
    if (!fs::is_directory(dir)) {
      throw Error("model directory '" + options.model_dir +
                  "' does not exist or is not a directory");
    }
    if (options.max_batch < 1 || options.max_batch > kMaxBatchLimit) {
      throw Error("max_batch " + std::to_string(options.max_batch) + " is out of range 1.." +
                  std::to_string(kMaxBatchLimit));
    }
    if (options.num_threads > 0) torch::set_num_threads(options.num_threads);
    const auto progress = [&](double fraction, const char* stage) {
      if (options.on_progress) options.on_progress(fraction, stage);
    };
    auto impl = std::make_unique<Impl>();
    progress(0, "config");
    impl->config = load_config((dir / "config.json").string());
    if (fs::exists(dir / "generation_config.json")) {
      merge_generation_config(impl->config, (dir / "generation_config.json").string());
    }
    progress(0, "tokenizer");
    // The tokenizer (about 0.3 s for Qwen's 150,000 tokens) loads on its own thread while the
    // modules are built and the checkpoint mapped; get() rethrows its errors.
    std::future<std::shared_ptr<const Tokenizer>> tokenizer =
        std::async(std::launch::async, [&options] { return Tokenizer::load(options.model_dir); });
    impl->device = resolve_device(options.device);
    impl->dtype = resolve_dtype(options.dtype, impl->device);
    if (impl->device.is_cuda() && impl->dtype == torch::kFloat32) {
      // cuDNN would run float32 convolutions in TF32 (10-bit mantissa) by default; a float32 run
      // is asked for parity, so keep it float32 (process-wide, as libtorch has it).
      at::globalContext().setAllowTF32CuDNN(false);
      at::globalContext().setAllowTF32CuBLAS(false);
    }

    const auto start = std::chrono::steady_clock::now();
    const Checkpoint checkpoint = Checkpoint::open(options.model_dir);
    check_config_against_checkpoint(impl->config, checkpoint, (dir / "config.json").string());
    torch::NoGradGuard no_grad;
    impl->net = SlowFastForCausalLM(impl->config, torch::TensorOptions().dtype(impl->dtype));
    LoadWeightsOptions load;
    load.dtype = impl->dtype;
    load.device = impl->device;
    load.in_memory = options.weights_in_memory;
    for (const char* const* prefix = kUnusedCheckpointPrefixes; *prefix; ++prefix) {
      load.ignored_prefixes.emplace_back(*prefix);
    }
    progress(0, "weights");
    // About a hundred reports however many tensors (the release has about 1,400).
    size_t reported = 0;
    load.on_tensor = [&](size_t done, size_t total) {
      if (done * 100 / total > reported || done == total) {
        reported = done * 100 / total;
        progress(static_cast<double>(done) / total, "weights");
      }
    };
    load_weights(*impl->net, checkpoint, load);
    impl->net->eval();

    impl->tokenizer = tokenizer.get();
    // The original shrinks the embedding matrix to the tokenizer's length before generating:
    // ids at or beyond it are never produced.
    impl->vocab_limit = std::min<int64_t>(impl->tokenizer->size(), impl->config.vocab_size);
    impl->stop_ids = impl->config.eos_token_ids;
    for (const char* token : {"<|im_end|>", "<|endoftext|>"}) {
      if (auto id = impl->tokenizer->find_id(token)) impl->stop_ids.push_back(*id);
    }
    const Impl* const loaded = impl.get();
    impl->scheduler = std::make_unique<Scheduler>(
        *impl->net->model, impl->net->lm_head->weight,
        [loaded](const torch::Tensor& pixels) { return encode_vision_batch(*loaded, pixels); },
        options.max_batch, kVisionBatch);
    std::sort(impl->stop_ids.begin(), impl->stop_ids.end());
    impl->stop_ids.erase(std::unique(impl->stop_ids.begin(), impl->stop_ids.end()),
                         impl->stop_ids.end());
#ifdef __GLIBC__
    // The modules' first parameter allocations (on the CPU, never touched) and the
    // checkpoint's converted copies leave freed heap behind; hand it back to the system so the
    // resident size after load is the weights and not the transient.
    malloc_trim(0);
#endif
    log(LogLevel::Info, "loaded ", options.model_dir, " (", checkpoint.names().size(),
        " tensors) on ", impl->device.str(), " in ", c10::toString(impl->dtype), " in ",
        seconds_since(start), " s");

    ModelInfo& info = impl->info;
    info.id =
        dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
    info.image_size = static_cast<int>(impl->config.vision.image_size);
    info.hidden_size = static_cast<int>(impl->config.hidden_size);
    info.num_layers = static_cast<int>(impl->config.num_hidden_layers);
    const int64_t grid = impl->config.vision.grid_size() / impl->config.mm_video_pooling_stride;
    info.tokens_per_frame = static_cast<int>(grid * grid);
    info.device = impl->device.is_cuda() ? "cuda" : "cpu";
    info.dtype = impl->dtype == torch::kBFloat16 ? "bfloat16" : "float32";
    progress(1, "done");
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("loading model '" + options.model_dir + "': " + e.what());
  }
}

std::vector<int64_t> Model::tokenize(const std::string& text) const {
  return impl_->tokenizer->encode(text);
}

std::string Model::detokenize(const std::vector<int64_t>& ids, bool skip_special) const {
  return impl_->tokenizer->decode(ids, skip_special);
}

torch::Tensor preprocess_frames_tensor(const Model& model, const torch::Tensor& frames) {
  return preprocess_frames(frames, model.impl().config.vision.image_size,
                           /*pinned=*/model.impl().device.is_cuda());
}

torch::Tensor vision_features(const Model& model, const torch::Tensor& pixels) {
  return model.impl().scheduler->encode(pixels);
}

SchedulerStats scheduler_stats(const Model& model) {
  return model.impl().scheduler->stats();
}

std::vector<FrameFeatures> frame_features(const Model& model, const torch::Tensor& features,
                                          bool keep_unpooled) {
  // features: [T, N, H] -> T x [n, H] (spatial pooling of each frame, spec section 5 step 1)
  const Config& config = model.impl().config;
  const torch::Tensor pooled = spatial_pool(features, config.mm_video_pooling_stride);
  std::vector<FrameFeatures> out;
  out.reserve(features.size(0));
  for (int64_t t = 0; t < features.size(0); ++t) {
    auto impl = std::make_shared<FrameFeatures::Impl>();
    impl->pooled = pooled[t].clone();
    if (keep_unpooled) impl->unpooled = features[t].clone();
    out.emplace_back(std::move(impl));
  }
  return out;
}

std::vector<FrameFeatures> Model::encode_frames(const std::vector<FrameView>& frames,
                                                bool keep_unpooled) const {
  if (frames.empty()) return {};
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = preprocess_frames(frames, impl_->config.vision.image_size,
                                                 /*pinned=*/impl_->device.is_cuda());
  return frame_features(*this, vision_features(*this, pixels), keep_unpooled);
}

// ---- Session --------------------------------------------------------------------------------

struct Session::Impl {
  std::shared_ptr<const Model> model;
  KVCache cache;
};

Session::Session(std::shared_ptr<const Model> model) : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error("Session needs a loaded model");
  impl_->model = std::move(model);
}
Session::~Session() = default;

int64_t session_cache_bytes(Session& session) {
  return session.impl().cache.bytes();
}

Answer Session::answer(const std::vector<FrameFeatures>& window, const std::string& question,
                       const GenerationParams& params, const TokenCallback& on_token,
                       const AbortPredicate& should_abort) {
  return answer_with_trace(*this, window, question, params, on_token, should_abort, nullptr);
}

Answer answer_with_trace(Session& session, const std::vector<FrameFeatures>& window,
                         const std::string& question, const GenerationParams& params,
                         const TokenCallback& on_token, const AbortPredicate& should_abort,
                         Trace* trace, Ablation ablation) {
  try {
    const Model::Impl& model = session.impl().model->impl();
    const Config& config = model.config;
    if (window.empty()) throw Error("cannot answer an empty window of frames");
    for (const auto& frame : window) {
      if (frame.empty()) throw Error("window holds a frame without features");
    }
    torch::NoGradGuard no_grad;
    Answer answer;

    // Window -> slow and fast tokens.
    auto start = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> frames;
    frames.reserve(window.size());
    const bool image = window.size() == 1;
    for (const auto& frame : window) {
      const auto& features = frame.impl();
      if (image && !features->unpooled.defined()) {
        throw Error(
            "a one-frame window is answered as an image and needs the frame's unpooled tokens: "
            "encode it with keep_unpooled = true");
      }
      frames.push_back(image ? features->unpooled : features->pooled);
    }
    const SlowFastTokens tokens = split_slow_fast(torch::stack(frames), config);
    answer.vision_seconds = seconds_since(start);

    // Prompt: piece0 ++ fast tokens ++ piece1 (spec section 6).
    answer.input_ids = tokenize_with_image(*model.tokenizer,
                                           qwen_1_5_prompt(question, config.mm_use_im_start_end));
    image_position(answer.input_ids);  // refuses a question holding '<image>' before any work
    // The original truncates the multimodal sequence to tokenizer_model_max_length.
    const int64_t rows = static_cast<int64_t>(answer.input_ids.size()) - 1 + tokens.fast.size(0);
    if (config.tokenizer_model_max_length > 0 && rows > config.tokenizer_model_max_length) {
      log(LogLevel::Warning, "prompt of ", rows, " tokens truncated to tokenizer_model_max_length ",
          config.tokenizer_model_max_length);
    }

    auto& backbone = *model.net->model;
    const auto options = backbone.weight_options();
    Prompt prompt = embed_prompt(backbone, answer.input_ids, tokens.fast, {},
                                 config.tokenizer_model_max_length);
    switch (ablation) {
      case Ablation::None:
        prompt.memory = tokens.slow.to(options);
        break;
      case Ablation::ZeroSlowTokens:
        prompt.memory = torch::zeros_like(tokens.slow).to(options);
        break;
      case Ablation::NoCrossAttention:
        break;  // undefined memory: no cross-attention
    }

    GenerationOptions generation;
    generation.max_new_tokens = params.max_new_tokens;
    generation.sampling.temperature = params.temperature;
    generation.sampling.top_p = params.top_p;
    generation.sampling.top_k = params.top_k;
    generation.sampling.repetition_penalty = params.repetition_penalty;
    generation.seed = params.seed;
    generation.stop_ids = model.stop_ids;
    generation.vocab_limit = model.vocab_limit;
    validate(generation.sampling);

    StreamDecoder decoder(model.tokenizer, /*skip_special=*/true);
    TokenIdCallback on_id;
    if (on_token) {
      on_id = [&](int64_t id) {
        const std::string piece = decoder.push(id);
        if (!piece.empty()) on_token(piece);
      };
    }
    const GenerationResult result =
        model.scheduler->generate(prompt, generation, session.impl().cache, on_id, should_abort);
    if (on_token) {
      const std::string rest = decoder.finish();
      if (!rest.empty()) on_token(rest);
    }
    answer.output_ids = result.output_ids;
    answer.aborted = result.aborted;
    answer.prefill_seconds = result.prefill_seconds;
    answer.decode_seconds = result.decode_seconds;
    answer.text = strip(model.tokenizer->decode(result.output_ids, /*skip_special=*/true));

    // An answer aborted before its prefill has no logits to trace.
    if (trace && result.prefill_logits.defined()) {
      trace->fast_tokens = tokens.fast.to(torch::kCPU, torch::kFloat32);
      trace->slow_tokens = tokens.slow.to(torch::kCPU, torch::kFloat32);
      trace->prefill_logits =
          result.prefill_logits.narrow(0, 0, model.vocab_limit).to(torch::kCPU, torch::kFloat32);
    }
    return answer;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(std::string("answering a window: ") + e.what());
  }
}

}  // namespace slowfast
