// The engine end to end against the golden cases computed by the original PyTorch code
// ($SLOWFAST_SHARED/golden/*): slowfast-cli run --dump must reproduce every tensor and the ids.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

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
    std::vector<slowfast::FrameView> views;
    for (int64_t t = 0; t < frames.size(0); ++t) {
      slowfast::FrameView v;
      v.rgb = frames[t].data_ptr<uint8_t>();
      v.height = static_cast<int>(frames.size(1));
      v.width = static_cast<int>(frames.size(2));
      v.stride = v.width * 3;
      views.push_back(v);
    }
    return model_->encode_frames(views);
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
