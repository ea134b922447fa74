// The engine end to end against the golden cases computed by the original PyTorch code
// ($SLOWFAST_SHARED/golden/*): slowfast-cli run --dump must reproduce every tensor and the ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "checkpoint/safetensors.h"
#include "engine_internal.h"
#include "slowfast.h"
#include "tools/npy.h"

namespace fs = std::filesystem;

namespace {

// Parity tolerance of the golden cases: relative L2 error of every dumped tensor (float32).
constexpr double kFloat32Tolerance = 1e-4;
// bfloat16 keeps 8 bits of mantissa; the prefill logits may move by this much (relative L2).
constexpr double kBFloat16LogitTolerance = 3e-2;

// The device the golden cases run on: cpu unless SLOWFAST_TEST_DEVICE says cuda
// (tests/device/cuda_check.sh), with the same tolerances.
std::string test_device() {
  const char* device = std::getenv("SLOWFAST_TEST_DEVICE");
  return device && std::string(device) == "cuda" ? "cuda" : "cpu";
}

fs::path golden_root() {
  const char* shared = std::getenv("SLOWFAST_SHARED");
  return shared ? fs::path(shared) / "golden" : fs::path();
}

std::vector<fs::path> golden_cases() {
  std::vector<fs::path> cases;
  const fs::path root = golden_root();
  if (root.empty() || !fs::is_directory(root)) return cases;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (fs::exists(entry.path() / "case.json")) cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

double relative_l2(const torch::Tensor& out, const torch::Tensor& ref) {
  const auto o = out.to(torch::kFloat64).flatten();
  const auto r = ref.to(torch::kFloat64).flatten();
  return (o - r).norm().item<double>() / std::max(r.norm().item<double>(), 1e-30);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs slowfast-cli run on a golden case; returns the dump directory.
fs::path run_cli(const fs::path& case_dir, const std::string& dtype) {
  const char* cli = std::getenv("SLOWFAST_CLI");
  if (!cli) throw std::runtime_error("SLOWFAST_CLI is not set (run through meson test)");
  const nlohmann::json spec = read_json(case_dir / "case.json");
  const fs::path out =
      fs::temp_directory_path() / ("slowfast-golden-" + case_dir.filename().string() + "-" + dtype +
                                   "-" + std::to_string(::getpid()));
  fs::remove_all(out);
  std::ostringstream command;
  command << shell_quote(cli) << " run --model " << shell_quote((case_dir / "model").string())
          << " --frames " << shell_quote((case_dir / "frames.npy").string()) << " --prompt "
          << shell_quote(spec.at("prompt").get<std::string>()) << " --max-new-tokens "
          << spec.at("max_new_tokens").get<int>() << " --temperature 0 --dtype " << dtype
          << " --device " << test_device() << " --dump " << shell_quote(out.string()) << " > "
          << shell_quote((out.string() + ".stdout")) << " 2>&1";
  const int status = std::system(command.str().c_str());
  if (status != 0) {
    std::ifstream log(out.string() + ".stdout");
    std::stringstream text;
    text << log.rdbuf();
    throw std::runtime_error("slowfast-cli failed (" + std::to_string(status) +
                             "): " + command.str() + "\n" + text.str());
  }
  return out;
}

// uint8 frames [T, H, W, 3], contiguous -> their features, through the public API.
std::vector<slowfast::FrameFeatures> encode_frames_tensor(const slowfast::Model& model,
                                                          const torch::Tensor& frames) {
  std::vector<slowfast::FrameView> views;
  for (int64_t t = 0; t < frames.size(0); ++t) {
    slowfast::FrameView v;
    v.rgb = frames[t].data_ptr<uint8_t>();
    v.height = static_cast<int>(frames.size(1));
    v.width = static_cast<int>(frames.size(2));
    v.stride = v.width * 3;
    views.push_back(v);
  }
  return model.encode_frames(views);
}

class Golden : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = golden_cases();
    if (cases_.empty()) {
      GTEST_SKIP() << "no golden cases: SLOWFAST_SHARED/golden is absent (a clone without "
                      "../shared); CI always has it";
    }
  }
  std::vector<fs::path> cases_;
};

TEST_F(Golden, Float32MatchesTheOriginalTensorByTensor) {
  for (const auto& case_dir : cases_) {
    SCOPED_TRACE(case_dir.string());
    const fs::path out = run_cli(case_dir, "float32");
    for (const char* name : {"pixel_values.npy", "vision_features.npy", "fast_tokens.npy",
                             "slow_tokens.npy", "prefill_logits.npy"}) {
      const torch::Tensor ref = slowfast::read_npy((case_dir / "expected" / name).string());
      const torch::Tensor got = slowfast::read_npy((out / name).string());
      ASSERT_EQ(got.sizes(), ref.sizes()) << name;
      const double err = relative_l2(got, ref);
      std::cout << case_dir.filename().string() << " " << name << " rel L2 " << err << "\n";
      EXPECT_LE(err, kFloat32Tolerance) << name;
    }
    const nlohmann::json want = read_json(case_dir / "expected" / "tokens.json");
    const nlohmann::json got = read_json(out / "tokens.json");
    EXPECT_EQ(got.at("input_ids"), want.at("input_ids"));
    EXPECT_EQ(got.at("output_ids"), want.at("output_ids"));
    EXPECT_EQ(got.at("text"), want.at("text"));
    fs::remove_all(out);
  }
}

TEST_F(Golden, BFloat16StaysCloseAndAgreesOnTheFirstToken) {
  for (const auto& case_dir : cases_) {
    SCOPED_TRACE(case_dir.string());
    const fs::path out = run_cli(case_dir, "bfloat16");
    const torch::Tensor ref =
        slowfast::read_npy((case_dir / "expected/prefill_logits.npy").string());
    const torch::Tensor got = slowfast::read_npy((out / "prefill_logits.npy").string());
    ASSERT_EQ(got.sizes(), ref.sizes());
    const double err = relative_l2(got, ref);
    EXPECT_LE(err, kBFloat16LogitTolerance);
    const auto want_ids = read_json(case_dir / "expected/tokens.json").at("output_ids");
    const auto got_ids = read_json(out / "tokens.json").at("output_ids");
    ASSERT_FALSE(got_ids.empty());
    EXPECT_EQ(got_ids.at(0), want_ids.at(0));
    size_t agree = 0;
    while (agree < got_ids.size() && agree < want_ids.size() && got_ids[agree] == want_ids[agree]) {
      ++agree;
    }
    std::cout << case_dir.filename().string() << " bfloat16: prefill logits rel L2 " << err
              << ", first " << agree << " of " << want_ids.size()
              << " greedy ids agree with float32 reference\n";
    fs::remove_all(out);
  }
}

// In-process: the API path the element takes (FrameView -> encode_frames -> Session::answer)
// gives the same ids as the golden case, and each model input really matters.
class GoldenInProcess : public Golden {
 protected:
  void SetUp() override {
    Golden::SetUp();
    if (IsSkipped()) return;
    case_dir_ = cases_.front();
    slowfast::LoadOptions options;
    options.model_dir = (case_dir_ / "model").string();
    options.dtype = slowfast::DType::Float32;
    options.device = test_device() == "cuda" ? slowfast::Device::Cuda : slowfast::Device::Cpu;
    model_ = slowfast::Model::load(options);
    frames_ = slowfast::read_npy((case_dir_ / "frames.npy").string()).contiguous();
    spec_ = read_json(case_dir_ / "case.json");
    params_.temperature = 0;
    params_.max_new_tokens = spec_.at("max_new_tokens").get<int>();
  }

  std::vector<slowfast::FrameFeatures> encode(const torch::Tensor& frames) {
    return encode_frames_tensor(*model_, frames);
  }

  slowfast::Trace trace(const std::vector<slowfast::FrameFeatures>& window,
                        slowfast::Ablation ablation) {
    slowfast::Session session(model_);
    slowfast::Trace t;
    slowfast::answer_with_trace(session, window, spec_.at("prompt").get<std::string>(), params_,
                                nullptr, nullptr, &t, ablation);
    return t;
  }

  fs::path case_dir_;
  std::shared_ptr<const slowfast::Model> model_;
  torch::Tensor frames_;
  nlohmann::json spec_;
  slowfast::GenerationParams params_;
};

TEST_F(GoldenInProcess, PublicApiPathGivesTheGoldenIds) {
  const auto window = encode(frames_);
  slowfast::Session session(model_);
  std::vector<std::string> pieces;
  const slowfast::Answer answer =
      session.answer(window, spec_.at("prompt").get<std::string>(), params_,
                     [&](const std::string& piece) { pieces.push_back(piece); });
  const auto want = read_json(case_dir_ / "expected/tokens.json");
  EXPECT_EQ(nlohmann::json(answer.output_ids), want.at("output_ids"));
  EXPECT_EQ(nlohmann::json(answer.input_ids), want.at("input_ids"));
  // Streamed pieces concatenate to the whole answer (before stripping).
  std::string streamed;
  for (const auto& p : pieces) streamed += p;
  EXPECT_EQ(streamed, model_->detokenize(answer.output_ids, true));
  // A session is reusable: the second answer equals the first.
  const slowfast::Answer again =
      session.answer(window, spec_.at("prompt").get<std::string>(), params_);
  EXPECT_EQ(again.output_ids, answer.output_ids);
}

TEST_F(GoldenInProcess, SlowTokensCrossAttentionAndFramesEachChangeTheLogits) {
  const auto window = encode(frames_);
  const torch::Tensor base = trace(window, slowfast::Ablation::None).prefill_logits;
  const torch::Tensor zero_slow = trace(window, slowfast::Ablation::ZeroSlowTokens).prefill_logits;
  const torch::Tensor no_cross = trace(window, slowfast::Ablation::NoCrossAttention).prefill_logits;
  const torch::Tensor other_frames =
      trace(encode(frames_.flip({0}).contiguous()), slowfast::Ablation::None).prefill_logits;
  // Float32 noise is ~1e-6; each ablation must move the logits far more than that.
  EXPECT_GT(relative_l2(zero_slow, base), 1e-4);
  EXPECT_GT(relative_l2(no_cross, base), 1e-4);
  EXPECT_GT(relative_l2(other_frames, base), 1e-4);
  // And with everything equal the logits are reproducible.
  EXPECT_LT(relative_l2(trace(window, slowfast::Ablation::None).prefill_logits, base), 1e-6);
}

TEST_F(GoldenInProcess, AbortStopsGenerationAtOnce) {
  const auto window = encode(frames_);
  slowfast::Session session(model_);
  int calls = 0;
  const slowfast::Answer answer = session.answer(window, spec_.at("prompt").get<std::string>(),
                                                 params_, nullptr, [&] { return ++calls > 2; });
  EXPECT_TRUE(answer.aborted);
  EXPECT_LE(answer.output_ids.size(), 3u);
}

// ---- Answers decoded together (the model's scheduler) ---------------------------------------

std::vector<slowfast::FrameFeatures> encode_npy(const slowfast::Model& model, const fs::path& npy) {
  return encode_frames_tensor(model, slowfast::read_npy(npy.string()).contiguous());
}

struct Request {
  std::vector<slowfast::FrameFeatures> window;
  std::string prompt;
  slowfast::GenerationParams params;
  // As Session::answer's callbacks: each piece of text, and whether to stop.
  slowfast::TokenCallback on_token;
  std::function<bool()> should_abort;
};

struct Reply {
  slowfast::Answer answer;
  torch::Tensor prefill_logits;
};

Reply answer_one(const std::shared_ptr<const slowfast::Model>& model, const Request& request) {
  slowfast::Session session(model);
  Reply reply;
  slowfast::Trace trace;
  reply.answer =
      slowfast::answer_with_trace(session, request.window, request.prompt, request.params,
                                  request.on_token, request.should_abort, &trace);
  reply.prefill_logits = trace.prefill_logits;
  return reply;
}

// Every request on its own thread, released together, so their answers share decode steps. Each
// answer holds its first piece of text until every answer has one (or 30 s pass), so a fast
// answer cannot finish before a slow thread's is admitted on a loaded machine; the scheduler goes
// on stepping the others meanwhile, and the ids do not depend on the timing.
std::vector<Reply> answer_together(const std::shared_ptr<const slowfast::Model>& model,
                                   const std::vector<Request>& requests) {
  std::mutex mutex;
  std::condition_variable all_started;
  size_t started = 0;
  std::promise<void> go;
  const std::shared_future<void> released = go.get_future().share();
  std::vector<std::future<Reply>> replies;
  for (const Request& request : requests) {
    replies.push_back(std::async(std::launch::async, [&, released] {
      Request held = request;
      held.on_token = [&, first = true](const std::string& piece) mutable {
        if (first) {
          first = false;
          std::unique_lock<std::mutex> lock(mutex);
          if (++started == requests.size()) all_started.notify_all();
          all_started.wait_for(lock, std::chrono::seconds(30),
                               [&] { return started == requests.size(); });
        }
        if (request.on_token) request.on_token(piece);
      };
      released.wait();
      return answer_one(model, held);
    }));
  }
  go.set_value();
  std::vector<Reply> out;
  for (auto& reply : replies) out.push_back(reply.get());
  return out;
}

// Golden cases a and b (different frames and prompts) and a sampled third request, answered in one
// batch on each case's model, give exactly their single-request results: the same ids (float32
// and bfloat16) and, in float32, the same prefill logits within 1e-5 relative.
TEST_F(Golden, AnswersDecodedTogetherEqualTheirSingleRequestResults) {
  for (const fs::path& case_dir : cases_) {
    for (const auto dtype : {slowfast::DType::Float32, slowfast::DType::BFloat16}) {
      SCOPED_TRACE(case_dir.filename().string() + " " + slowfast::to_string(dtype));
      slowfast::LoadOptions options;
      options.model_dir = (case_dir / "model").string();
      options.dtype = dtype;
      options.device = test_device() == "cuda" ? slowfast::Device::Cuda : slowfast::Device::Cpu;
      const auto model = slowfast::Model::load(options);

      std::vector<Request> requests;
      for (const fs::path& source : cases_) {
        const nlohmann::json spec = read_json(source / "case.json");
        Request request;
        request.window = encode_npy(*model, source / "frames.npy");
        request.prompt = spec.at("prompt").get<std::string>();
        request.params.temperature = 0;
        request.params.max_new_tokens = spec.at("max_new_tokens").get<int>();
        requests.push_back(request);
      }
      Request sampled = requests.front();
      sampled.prompt = "What happens at the end of the video?";
      sampled.params.temperature = 0.9f;
      sampled.params.top_p = 0.95f;
      sampled.params.top_k = 50;
      sampled.params.repetition_penalty = 1.1f;
      sampled.params.seed = 1234;
      requests.push_back(sampled);

      std::vector<Reply> alone;
      for (const Request& request : requests) alone.push_back(answer_one(model, request));
      const slowfast::SchedulerStats before = slowfast::scheduler_stats(*model);
      const std::vector<Reply> together = answer_together(model, requests);
      const slowfast::SchedulerStats after = slowfast::scheduler_stats(*model);

      // Really together: some decode step advanced several answers.
      EXPECT_GE(after.largest_batch, 2);
      EXPECT_LT(after.decode_steps - before.decode_steps,
                after.sequence_steps - before.sequence_steps);
      // The scheduler's own time in prefills and steps (bench_streams' "in steps" figure).
      EXPECT_GT(after.prefill_seconds, before.prefill_seconds);
      EXPECT_GT(after.decode_seconds, before.decode_seconds);
      for (size_t i = 0; i < requests.size(); ++i) {
        SCOPED_TRACE("request " + std::to_string(i));
        EXPECT_FALSE(together[i].answer.output_ids.empty());
        EXPECT_EQ(together[i].answer.output_ids, alone[i].answer.output_ids);
        EXPECT_EQ(together[i].answer.text, alone[i].answer.text);
        if (dtype == slowfast::DType::Float32) {
          EXPECT_LT(relative_l2(together[i].prefill_logits, alone[i].prefill_logits), 1e-5);
        }
      }
      if (dtype == slowfast::DType::Float32) {
        // The golden case itself, answered in the batch, still gives the original's ids.
        const size_t own = std::find(cases_.begin(), cases_.end(), case_dir) - cases_.begin();
        const auto want = read_json(case_dir / "expected/tokens.json");
        EXPECT_EQ(nlohmann::json(together[own].answer.output_ids), want.at("output_ids"));
      }
    }
  }
}

// One answer aborted in the middle of a batch ends at the next step; the others are unchanged.
TEST_F(GoldenInProcess, AbortingOneAnswerMidBatchLeavesTheOthersUnchanged) {
  const auto window = encode(frames_);
  std::vector<Request> requests(3);
  const char* prompts[] = {"Please describe this video in detail.", "What moves?",
                           "Describe the colours."};
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].window = window;
    requests[i].prompt = prompts[i];
    requests[i].params = params_;
  }
  std::vector<Reply> alone;
  for (const Request& request : requests) alone.push_back(answer_one(model_, request));
  ASSERT_GT(alone[1].answer.output_ids.size(), 6u) << "the answer to abort is too short";

  // Stops once three pieces of its text have come (the predicate is also asked while the answer
  // waits to be admitted, so it must not count its calls).
  std::atomic<int> pieces{0};
  requests[1].on_token = [&pieces](const std::string&) { pieces++; };
  requests[1].should_abort = [&pieces] { return pieces.load() >= 3; };
  const slowfast::SchedulerStats before = slowfast::scheduler_stats(*model_);
  const std::vector<Reply> together = answer_together(model_, requests);
  const slowfast::SchedulerStats after = slowfast::scheduler_stats(*model_);

  EXPECT_EQ(after.aborted - before.aborted, 1u);
  EXPECT_GE(after.largest_batch, 2);
  EXPECT_TRUE(together[1].answer.aborted);
  const std::vector<int64_t>& cut = together[1].answer.output_ids;
  // At least one id per piece; cut short of the whole answer, and the same ids as far as it got.
  ASSERT_GE(cut.size(), 3u);
  ASSERT_LT(cut.size(), alone[1].answer.output_ids.size());
  EXPECT_TRUE(std::equal(cut.begin(), cut.end(), alone[1].answer.output_ids.begin()));
  for (size_t i : {size_t{0}, size_t{2}}) {
    EXPECT_FALSE(together[i].answer.aborted);
    EXPECT_EQ(together[i].answer.output_ids, alone[i].answer.output_ids) << "request " << i;
  }
}

// An answer still waiting for a slot (max_batch 1, another answer decoding) is aborted without
// waiting for that answer: a flush in one element must not wait for another stream.
TEST_F(GoldenInProcess, AnswerWaitingForASlotAbortsWithoutWaiting) {
  slowfast::LoadOptions options;
  options.model_dir = (case_dir_ / "model").string();
  options.dtype = slowfast::DType::Float32;
  options.device = test_device() == "cuda" ? slowfast::Device::Cuda : slowfast::Device::Cpu;
  options.max_batch = 1;
  const auto model = slowfast::Model::load(options);
  const auto window = encode_frames_tensor(*model, frames_);
  const std::string prompt = spec_.at("prompt").get<std::string>();

  std::atomic<bool> slow_started{false};
  auto slow = std::async(std::launch::async, [&] {
    slowfast::Session session(model);
    // 100 ms per token: the only slot stays taken for about a second.
    const slowfast::Answer answer =
        session.answer(window, prompt, params_, [&](const std::string&) {
          slow_started = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        });
    return std::make_pair(answer, std::chrono::steady_clock::now());
  });
  while (!slow_started) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  slowfast::Session session(model);
  const slowfast::Answer aborted =
      session.answer(window, prompt, params_, nullptr, [] { return true; });
  const auto aborted_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(aborted.aborted);
  EXPECT_TRUE(aborted.output_ids.empty());
  const auto [answer, finished_at] = slow.get();
  EXPECT_FALSE(answer.aborted);
  EXPECT_GT(answer.output_ids.size(), 3u);
  EXPECT_LT(aborted_at, finished_at) << "the aborted answer waited for the other one";
}

// Frames from several callers share vision calls (at most 8 frames each), and each caller gets
// the features it gets alone. A long clip keeps the encode thread busy while the callers arrive,
// so the sharing does not depend on how fast threads start on a loaded machine.
TEST_F(GoldenInProcess, FramesFromSeveralCallersShareVisionCalls) {
  constexpr int kCallers = 4, kFrames = 3, kBusyFrames = 128, kFramesPerCall = 8;
  std::vector<torch::Tensor> clips;
  std::vector<std::vector<slowfast::FrameFeatures>> alone;
  for (int c = 0; c < kCallers; ++c) {
    clips.push_back(frames_.narrow(0, c * kFrames, kFrames).contiguous());
    alone.push_back(encode(clips.back()));
  }
  const torch::Tensor busy_clip =
      frames_.index({torch::arange(kBusyFrames) % frames_.size(0)}).contiguous();

  const slowfast::SchedulerStats before = slowfast::scheduler_stats(*model_);
  auto busy = std::async(std::launch::async, [&] { return encode(busy_clip); });
  while (slowfast::scheduler_stats(*model_).vision_calls == before.vision_calls &&
         busy.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::promise<void> go;
  const std::shared_future<void> released = go.get_future().share();
  std::vector<std::future<std::vector<slowfast::FrameFeatures>>> together;
  for (int c = 0; c < kCallers; ++c) {
    together.push_back(std::async(std::launch::async, [&, c, released] {
      released.wait();
      return encode(clips[c]);
    }));
  }
  go.set_value();
  for (int c = 0; c < kCallers; ++c) {
    const auto features = together[c].get();
    ASSERT_EQ(features.size(), static_cast<size_t>(kFrames));
    for (int t = 0; t < kFrames; ++t) {
      EXPECT_LT(relative_l2(features[t].impl()->pooled, alone[c][t].impl()->pooled), 1e-5)
          << "caller " << c << " frame " << t;
    }
  }
  const auto busy_features = busy.get();
  ASSERT_EQ(busy_features.size(), static_cast<size_t>(kBusyFrames));
  // The long clip repeats the case's frames: its frame T is frame 0 again, caller 0's first.
  EXPECT_LT(relative_l2(busy_features[frames_.size(0)].impl()->pooled, alone[0][0].impl()->pooled),
            1e-5);
  const slowfast::SchedulerStats after = slowfast::scheduler_stats(*model_);
  EXPECT_EQ(after.frames_encoded - before.frames_encoded,
            uint64_t{kCallers * kFrames + kBusyFrames});
  // Alone: 16 calls for the long clip and one per caller. Shared, the callers' frames ride in
  // the long clip's calls: 140 frames need 18.
  const uint64_t alone_calls = kBusyFrames / kFramesPerCall + kCallers;
  EXPECT_LT(after.vision_calls - before.vision_calls, alone_calls);
}

// A copy of the demo model (in the repository, so these run in every clone) in a fresh temporary
// directory, for tests that break one of its files.
fs::path demo_copy(const std::string& name) {
  const char* demo = std::getenv("SLOWFAST_TEST_MODEL");
  if (!demo) throw std::runtime_error("SLOWFAST_TEST_MODEL is not set (run through meson test)");
  const fs::path dir =
      fs::temp_directory_path() / ("slowfast-bad-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(demo, dir, fs::copy_options::recursive);
  return dir;
}

void edit_config(const fs::path& dir, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json config = read_json(dir / "config.json");
  edit(config);
  std::ofstream(dir / "config.json", std::ios::trunc) << config.dump(2);
}

std::string load_error(const fs::path& dir) {
  slowfast::LoadOptions options;
  options.model_dir = dir.string();
  try {
    slowfast::Model::load(options);
  } catch (const slowfast::Error& e) {
    return e.what();
  }
  return "";
}

// Sizes the checkpoint contradicts are refused from its header, before any module is built: the
// message names the key and what the checkpoint holds (before the fix, 10^5 layers took 34 s and
// a 65 MB message, 10^12 a libtorch allocator trace naming no key).
TEST(EngineBadModel, ConfigSizesAreCheckedAgainstTheCheckpointFirst) {
  const std::vector<
      std::tuple<std::string, std::function<void(nlohmann::json&)>, std::vector<std::string>>>
      cases = {
          {"layers",
           [](nlohmann::json& c) { c["num_hidden_layers"] = 100000; },
           {"'num_hidden_layers'", "100000", "4 decoder layers"}},
          {"hidden",
           [](nlohmann::json& c) { c["hidden_size"] = int64_t{1000000000000}; },
           {"'hidden_size'", "1000000000000", "model.embed_tokens.weight"}},
          {"vocab",
           [](nlohmann::json& c) { c["vocab_size"] = 100000000; },
           {"'vocab_size'", "100000000"}},
          {"intermediate",
           [](nlohmann::json& c) { c["intermediate_size"] = 100000000; },
           {"'intermediate_size'", "mlp.gate_proj.weight"}},
          {"kv heads",
           [](nlohmann::json& c) { c["num_key_value_heads"] = 4; },
           {"'num_key_value_heads'", "k_proj.weight"}},
          {"vision depth",
           [](nlohmann::json& c) {
             c["vision_config"]["depths"] = {1, 1, 300, 1};
           },
           {"'vision_config.depths'", "stage 2"}},
          {"vision width",
           [](nlohmann::json& c) {
             c["vision_config"]["dims"] = {16, 32, 6400, 128};
           },
           {"'vision_config.dims'", "stages.2.blocks.0.conv_dw.weight"}},
      };
  for (const auto& [name, edit, expected] : cases) {
    const fs::path dir = demo_copy("sizes");
    edit_config(dir, edit);
    const std::string error = load_error(dir);
    for (const std::string& part : expected) {
      EXPECT_NE(error.find(part), std::string::npos) << name << ": " << error;
    }
    EXPECT_NE(error.find("config.json"), std::string::npos) << name << ": " << error;
    EXPECT_LT(error.size(), 2000u) << name;
    fs::remove_all(dir);
  }
}

// A checkpoint tensor holding NaN makes the prompt's logits NaN: an error naming the tensor,
// never an empty answer (before the fix: an empty answer and exit status 0).
TEST(EngineBadModel, NanWeightsGiveAnErrorNamingTheTensor) {
  const fs::path dir = demo_copy("nan");
  {
    const slowfast::Checkpoint checkpoint = slowfast::Checkpoint::open(dir.string());
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& name : checkpoint.names()) tensors[name] = checkpoint.get(name).clone();
    tensors["model.norm.weight"][3] = std::numeric_limits<float>::quiet_NaN();
    slowfast::save_safetensors((dir / "model.safetensors.new").string(), tensors);
  }
  fs::rename(dir / "model.safetensors.new", dir / "model.safetensors");
  slowfast::LoadOptions options;
  options.model_dir = dir.string();
  const std::shared_ptr<const slowfast::Model> model = slowfast::Model::load(options);
  const torch::Tensor frames = torch::full({8, 64, 64, 3}, 100, torch::kUInt8);
  const std::vector<slowfast::FrameFeatures> window = encode_frames_tensor(*model, frames);
  slowfast::Session session(model);
  slowfast::GenerationParams params;
  params.max_new_tokens = 4;
  params.temperature = 0;
  try {
    session.answer(window, "What is happening?", params);
    FAIL() << "NaN weights gave an answer";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.norm.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(EngineErrors, MaxBatchOutOfRangeIsNamed) {
  slowfast::LoadOptions options;
  options.model_dir = fs::temp_directory_path().string();
  options.max_batch = 0;
  try {
    slowfast::Model::load(options);
    FAIL() << "max_batch 0 was accepted";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_batch 0"), std::string::npos) << e.what();
  }
}

TEST(EngineErrors, MissingModelDirectoryIsNamed) {
  slowfast::LoadOptions options;
  options.model_dir = "/nonexistent/slowfast-model";
  try {
    slowfast::Model::load(options);
    FAIL() << "loading a missing model must throw";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/slowfast-model"), std::string::npos)
        << e.what();
  }
}

TEST(EngineErrors, CudaRequestedWithoutCudaIsAClearError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  const auto cases = golden_cases();
  if (cases.empty()) GTEST_SKIP() << "no golden cases (SLOWFAST_SHARED absent)";
  slowfast::LoadOptions options;
  options.model_dir = (cases.front() / "model").string();
  options.device = slowfast::Device::Cuda;
  try {
    slowfast::Model::load(options);
    FAIL() << "device cuda without CUDA must throw";
  } catch (const slowfast::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
}

}  // namespace
