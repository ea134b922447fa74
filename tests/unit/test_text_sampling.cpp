// Sampling on hand-computed logit vectors: masks, scaling, penalties, seeds, vocabulary limit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <torch/torch.h>

#include "slowfast.h"
#include "text/sampling.h"

namespace slowfast {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

torch::Tensor vec(std::vector<float> values) {
  return torch::tensor(values, torch::kFloat32);
}

torch::Tensor log_probs(std::vector<float> probabilities) {
  return vec(probabilities).log();
}

TEST(TextSampling, VocabularyLimitMasksTheTail) {
  const torch::Tensor logits = vec({1, 2, 3, 4});
  EXPECT_TRUE(torch::equal(limit_vocabulary(logits, 2), vec({1, 2, -kInf, -kInf})));
  EXPECT_TRUE(torch::equal(limit_vocabulary(logits, 0), logits));
  EXPECT_TRUE(torch::equal(logits, vec({1, 2, 3, 4})));  // the input is left alone
}

TEST(TextSampling, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  const torch::Tensor penalised = apply_repetition_penalty(vec({2, -2, 1, 0.5}), {0, 1, 1}, 2.0);
  EXPECT_TRUE(torch::equal(penalised, vec({1, -4, 1, 0.5})));
  EXPECT_TRUE(torch::equal(apply_repetition_penalty(vec({2, -2}), {0}, 1.0), vec({2, -2})));
}

TEST(TextSampling, TemperatureScalesLogits) {
  EXPECT_TRUE(torch::allclose(apply_temperature(vec({1, -2, 4}), 0.5), vec({2, -4, 8})));
  EXPECT_THROW(apply_temperature(vec({1}), 0.0), Error);
}

TEST(TextSampling, TopKKeepsTheKLargestAndTheirTies) {
  EXPECT_TRUE(torch::equal(apply_top_k(vec({1, 3, 2, 0}), 2), vec({-kInf, 3, 2, -kInf})));
  EXPECT_TRUE(torch::equal(apply_top_k(vec({1, 2, 2, 0}), 2), vec({-kInf, 2, 2, -kInf})));
  EXPECT_TRUE(torch::equal(apply_top_k(vec({1, 2}), 0), vec({1, 2})));
  EXPECT_TRUE(torch::equal(apply_top_k(vec({1, 2}), 5), vec({1, 2})));
}

TEST(TextSampling, TopPKeepsTheSmallestSetReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 (in scrambled order).
  const torch::Tensor logits = log_probs({0.15f, 0.5f, 0.05f, 0.3f});
  const auto kept = [&](double top_p) { return apply_top_p(logits, top_p).isfinite(); };
  EXPECT_TRUE(torch::equal(kept(0.4), torch::tensor({false, true, false, false})));
  EXPECT_TRUE(torch::equal(kept(0.6), torch::tensor({false, true, false, true})));
  EXPECT_TRUE(torch::equal(kept(0.9), torch::tensor({true, true, false, true})));
  EXPECT_TRUE(torch::equal(kept(0.99), torch::tensor({true, true, true, true})));
  // Always at least the most likely token.
  EXPECT_TRUE(torch::equal(kept(1e-6), torch::tensor({false, true, false, false})));
  // Kept logits are untouched.
  EXPECT_TRUE(torch::equal(apply_top_p(logits, 0.6)[1], logits[1]));
}

TEST(TextSampling, ProbabilitiesCombineTheStepsInOrder) {
  // Repetition penalty, then temperature 0.5, then top-k 2, then softmax.
  SamplingParams params;
  params.temperature = 0.5;
  params.top_k = 2;
  params.repetition_penalty = 2.0;
  const torch::Tensor probabilities =
      sampling_probabilities(vec({1.0f, 2.0f, 0.4f, -3.0f}), params, {1}, 0);
  // After the penalty: 1, 1, 0.4, -3; temperature: 2, 2, 0.8, -6; top-2: 2, 2.
  EXPECT_TRUE(torch::allclose(probabilities, vec({0.5, 0.5, 0, 0})));
  params.top_k = 3;
  const torch::Tensor three =
      sampling_probabilities(vec({1.0f, 2.0f, 0.4f, -3.0f}), params, {1}, 0);
  const double z = 2 * std::exp(2.0) + std::exp(0.8);
  EXPECT_NEAR(three[2].item<double>(), std::exp(0.8) / z, 1e-6);
  EXPECT_EQ(three[3].item<double>(), 0.0);
}

TEST(TextSampling, GreedyIsArgmaxAfterPenaltyAndLimit) {
  at::Generator generator = make_sampling_generator(0);
  const SamplingParams greedy;
  const torch::Tensor logits = vec({0.1f, 3.0f, 2.5f, 9.0f});
  EXPECT_EQ(choose_next_token(logits, greedy, {}, 0, generator), 3);
  EXPECT_EQ(choose_next_token(logits, greedy, {}, 3, generator), 1);
  SamplingParams penalised;
  penalised.repetition_penalty = 1.5;
  EXPECT_EQ(choose_next_token(logits, penalised, {1}, 3, generator), 2);  // 3 / 1.5 < 2.5
}

TEST(TextSampling, GreedyOnTheDeviceChoosesAsTheHostDoes) {
  // next_token() takes the greedy argmax of the limited view in place: the same id as masking a
  // copy, including ties (the first), a NaN past the limit and a limited range of -inf only.
  at::Generator generator = make_sampling_generator(0);
  const SamplingParams greedy;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const auto& [values, limit] :
       {std::pair<std::vector<float>, int64_t>{{0.1f, 3.0f, 2.5f, 9.0f}, 3},
        {{2.0f, 5.0f, 5.0f, nan}, 3},
        {{-inf, -inf, 7.0f}, 2},
        {{1.0f, nan, 4.0f}, 0},
        {{0.5f, 0.25f}, 5}}) {
    const torch::Tensor logits = torch::tensor(values);
    EXPECT_EQ(next_token(logits, greedy, {}, limit, generator).item<int64_t>(),
              choose_next_token(logits, greedy, {}, limit, generator))
        << "limit " << limit;
  }
  EXPECT_EQ(next_token(vec({2.0f, 5.0f, 5.0f, 9.0f}), greedy, {}, 3, generator).item<int64_t>(), 1);
}

// The greedy choice on the CPU runs its own vector passes: it must pick what torch::argmax picks
// at every length around the vector width and at Qwen's vocabulary size, with ties (the first),
// NaNs (the first NaN), -0 against +0 and rows of -inf only.
TEST(TextSampling, GreedyChoiceIsTorchArgmaxAtEveryLength) {
  at::Generator generator = make_sampling_generator(0);
  const SamplingParams greedy;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  int checked = 0;
  for (const int64_t length : {1, 2, 15, 16, 17, 31, 32, 33, 1000, 151936}) {
    for (int variant = 0; variant < 6; ++variant) {
      torch::manual_seed(length * 10 + variant);
      torch::Tensor logits = torch::randn({length});
      const int64_t at = torch::randint(length, {1}).item<int64_t>();
      float* data = logits.data_ptr<float>();
      switch (variant) {
        case 1:  // a tie for the largest: the first wins
          data[at] = 100.0f;
          data[length - 1] = 100.0f;
          break;
        case 2:  // NaNs: the first one wins
          data[at] = nan;
          data[length - 1] = nan;
          break;
        case 3:  // -inf only
          logits.fill_(-kInf);
          break;
        case 4:  // the largest is zero, as -0 before +0
          logits = -logits.abs() - 1.0f;
          data = logits.data_ptr<float>();
          data[at] = -0.0f;
          data[length - 1] = 0.0f;
          break;
        case 5:  // the largest in the last, partly filled vector
          data[length - 1] = 50.0f;
          break;
        default:
          break;
      }
      const int64_t want = logits.argmax().item<int64_t>();
      EXPECT_EQ(next_token(logits, greedy, {}, 0, generator).item<int64_t>(), want)
          << "length " << length << " variant " << variant;
      EXPECT_EQ(choose_next_token(logits, greedy, {}, 0, generator), want)
          << "length " << length << " variant " << variant;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 60);
}

TEST(TextSampling, SameSeedSameDraws) {
  SamplingParams params;
  params.temperature = 1.0;
  const torch::Tensor uniform = torch::zeros({1000});
  const auto draws = [&](uint64_t seed) {
    at::Generator generator = make_sampling_generator(seed);
    std::vector<int64_t> ids;
    for (int i = 0; i < 20; ++i)
      ids.push_back(choose_next_token(uniform, params, {}, 0, generator));
    return ids;
  };
  EXPECT_EQ(draws(7), draws(7));
  EXPECT_NE(draws(7), draws(8));
}

TEST(TextSampling, DrawsFollowTheDistributionWithinTheLimit) {
  SamplingParams params;
  params.temperature = 1.0;
  // Probabilities 0.5, 0.3, 0.2 over the first three ids; id 3 is the most likely overall but
  // lies beyond the vocabulary limit.
  const torch::Tensor logits = torch::cat({log_probs({0.5f, 0.3f, 0.2f}), vec({10.0f})});
  at::Generator generator = make_sampling_generator(123);
  std::vector<int> counts(4, 0);
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++counts[choose_next_token(logits, params, {}, 3, generator)];
  EXPECT_EQ(counts[3], 0);
  EXPECT_NEAR(counts[0] / double(draws), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / double(draws), 0.3, 0.02);
  EXPECT_NEAR(counts[2] / double(draws), 0.2, 0.02);
}

TEST(TextSampling, RejectsOutOfRangeSettings) {
  const auto with = [](auto change) {
    SamplingParams params;
    change(params);
    return params;
  };
  EXPECT_THROW(validate(with([](SamplingParams& p) { p.temperature = -1; })), Error);
  EXPECT_THROW(validate(with([](SamplingParams& p) { p.top_p = 0; })), Error);
  EXPECT_THROW(validate(with([](SamplingParams& p) { p.top_p = 1.5; })), Error);
  EXPECT_THROW(validate(with([](SamplingParams& p) { p.top_k = -2; })), Error);
  EXPECT_THROW(validate(with([](SamplingParams& p) { p.repetition_penalty = 0; })), Error);
  EXPECT_NO_THROW(validate(SamplingParams{}));
  EXPECT_THROW(limit_vocabulary(torch::zeros({2, 2}), 0), Error);
}

}  // namespace
}  // namespace slowfast
