// Helpers shared by the vision tests: golden-case lookup and tensor comparison.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <torch/torch.h>

namespace slowfast::test {

// Relative L2 error ||out - ref|| / ||ref||, computed in float64.
inline double rel_l2(const torch::Tensor& out, const torch::Tensor& ref) {
  const torch::Tensor o = out.to(torch::kFloat64);
  const torch::Tensor r = ref.to(torch::kFloat64);
  return (o - r).norm().item<double>() / r.norm().item<double>();
}

inline double max_abs(const torch::Tensor& out, const torch::Tensor& ref) {
  return (out.to(torch::kFloat64) - ref.to(torch::kFloat64)).abs().max().item<double>();
}

// $SLOWFAST_SHARED/golden/<name>, or "" when the variable or the folder is absent.
inline std::string golden_dir(const std::string& name) {
  const char* shared = std::getenv("SLOWFAST_SHARED");
  if (shared == nullptr || *shared == '\0') return "";
  const std::filesystem::path dir = std::filesystem::path(shared) / "golden" / name;
  return std::filesystem::is_directory(dir) ? dir.string() : "";
}

// Golden parity tolerance of golden/README.md.
constexpr double kGoldenRelL2 = 1e-4;

}  // namespace slowfast::test

// Skips the current test when golden case `name` is unavailable; sets `dir` otherwise.
#define SLOWFAST_REQUIRE_GOLDEN(dir, name)                                              \
  const std::string dir = ::slowfast::test::golden_dir(name);                           \
  if (dir.empty()) {                                                                    \
    GTEST_SKIP() << "golden case '" << name << "' not found (SLOWFAST_SHARED unset or " \
                 << "$SLOWFAST_SHARED/golden/" << name << " absent)";                   \
  }
