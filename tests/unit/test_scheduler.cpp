// The scheduler's own behaviour on a random tiny decoder (the engine tests cover it through the
// public API): decode steps give way to vision calls.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <torch/torch.h>

#include "scheduler.h"
#include "test_text_util.h"
#include "text/kv_cache.h"

namespace slowfast {
namespace {

using namespace std::chrono_literals;

TEST(Scheduler, DecodeStepsWaitWhileAVisionCallRuns) {
  const Config config = test::tiny_text_config();
  Qwen2Model decoder = test::random_model(config, 91);
  const torch::Tensor lm_head = test::random_tensor({config.vocab_size, config.hidden_size}, 92);
  std::atomic<bool> in_vision{false};
  Scheduler scheduler(
      *decoder, lm_head,
      [&](const torch::Tensor& pixels) {
        in_vision = true;
        std::this_thread::sleep_for(300ms);
        in_vision = false;
        return torch::zeros({pixels.size(0), 4});
      },
      /*max_batch=*/8, /*max_frames=*/8);

  Prompt prompt;
  prompt.embeds = test::random_tensor({6, config.hidden_size}, 93);
  GenerationOptions options;
  options.max_new_tokens = 1000000;  // until aborted
  std::atomic<int> tokens{0}, tokens_in_vision{0};
  std::atomic<bool> stop{false};
  KVCache cache;
  std::thread answer([&] {
    scheduler.generate(
        prompt, options, cache,
        [&](int64_t) {
          ++tokens;
          if (in_vision) ++tokens_in_vision;
        },
        [&] { return stop.load(); });
  });
  while (tokens < 20) std::this_thread::sleep_for(1ms);
  // The control: without a vision call the answer advances many steps in as long.
  const int before = tokens;
  std::this_thread::sleep_for(300ms);
  const int without_vision = tokens - before;
  scheduler.encode(torch::zeros({1, 3, 4, 4}));
  stop = true;
  answer.join();

  EXPECT_GT(without_vision, 20);
  // A step already past its last loop when the call began may still deliver its token.
  EXPECT_LE(tokens_in_vision.load(), 2) << without_vision << " tokens in 300 ms without vision";
}

}  // namespace
}  // namespace slowfast
