// The element's stage queues and pending-window policy (gst/workqueue.h), with real threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "workqueue.h"

using gstslowfast::PendingWindows;
using gstslowfast::StageQueue;

namespace {

using Window = std::shared_ptr<int>;

Window window(int id) {
  return std::make_shared<int>(id);
}

// Waits up to 5 s for `done`: the test fails instead of hanging.
template <typename Done>
bool eventually(Done done) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

TEST(StageQueue, DeliversInOrderAcrossThreads) {
  StageQueue<int> queue;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(queue.push(i));
  });
  for (int i = 0; i < 1000; ++i) {
    const std::optional<int> item = queue.pop();
    ASSERT_TRUE(item.has_value());
    EXPECT_EQ(*item, i);
  }
  producer.join();
}

TEST(StageQueue, CloseWakesABlockedConsumerAndRefusesItems) {
  StageQueue<int> queue;
  std::atomic<bool> woke{false};
  std::thread consumer([&] {
    EXPECT_FALSE(queue.pop().has_value());
    woke = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(woke);  // still blocked: nothing came
  queue.close();
  EXPECT_TRUE(eventually([&] { return woke.load(); }));
  consumer.join();
  EXPECT_FALSE(queue.push(1));
  EXPECT_EQ(queue.size(), 0u);
  queue.open();
  EXPECT_TRUE(queue.push(2));
  EXPECT_EQ(queue.pop(), 2);
}

TEST(StageQueue, PopRunTakesTheItemsThatGoTogetherUpToTheLimit) {
  StageQueue<int> queue;
  for (int item : {2, 4, 6, 7, 8}) queue.push(item);
  const auto even = [](int first, int next) { return first % 2 == 0 && next % 2 == 0; };
  EXPECT_EQ(queue.pop_run(2, even), (std::vector<int>{2, 4}));
  EXPECT_EQ(queue.pop_run(10, even), (std::vector<int>{6}));  // 7 does not go with 6
  EXPECT_EQ(queue.pop_run(10, even), (std::vector<int>{7}));  // nor 8 with 7
  queue.remove_if([](int item) { return item == 8; });
  EXPECT_EQ(queue.size(), 0u);
  queue.push(1);
  queue.clear();
  EXPECT_EQ(queue.size(), 0u);
}

TEST(PendingWindows, LeakyDropsTheOldestAndKeepsTheNewest) {
  PendingWindows<Window> pending;
  const Window a = window(1), b = window(2), c = window(3);
  EXPECT_TRUE(pending.admit(a, 2, true).dropped.empty());
  EXPECT_TRUE(pending.admit(b, 2, true).dropped.empty());
  const auto third = pending.admit(c, 2, true);
  ASSERT_TRUE(third.admitted);
  ASSERT_EQ(third.dropped.size(), 1u);
  EXPECT_EQ(third.dropped[0], a);
  EXPECT_EQ(pending.oldest(), b);
  // The worker meets the dropped window in its queue later and skips it.
  EXPECT_FALSE(pending.take(a));
  EXPECT_TRUE(pending.take(b));
  EXPECT_TRUE(pending.take(c));
  EXPECT_FALSE(pending.oldest().has_value());
}

TEST(PendingWindows, ZeroPendingCountsAsOne) {
  PendingWindows<Window> pending;
  pending.admit(window(1), 0, true);
  EXPECT_EQ(pending.admit(window(2), 0, true).dropped.size(), 1u);
  EXPECT_EQ(pending.size(), 1u);
}

TEST(PendingWindows, WithoutDroppingTheProducerWaitsForTheWorker) {
  PendingWindows<Window> pending;
  const Window first = window(1), second = window(2);
  ASSERT_TRUE(pending.admit(first, 1, false).admitted);
  std::atomic<bool> admitted{false};
  std::thread producer([&] {
    const auto admission = pending.admit(second, 1, false);
    EXPECT_TRUE(admission.admitted);
    EXPECT_TRUE(admission.dropped.empty());
    admitted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(admitted);  // waiting: one window is pending
  EXPECT_TRUE(pending.take(first));
  EXPECT_TRUE(eventually([&] { return admitted.load(); }));
  producer.join();
  EXPECT_EQ(pending.oldest(), second);
}

TEST(PendingWindows, InterruptReleasesAWaitingProducerUntilResumed) {
  PendingWindows<Window> pending;
  pending.admit(window(1), 1, false);
  std::atomic<bool> returned{false};
  std::thread producer([&] {
    EXPECT_FALSE(pending.admit(window(2), 1, false).admitted);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned);
  pending.interrupt();
  EXPECT_TRUE(eventually([&] { return returned.load(); }));
  producer.join();
  EXPECT_EQ(pending.size(), 0u);
  EXPECT_FALSE(pending.admit(window(3), 1, true).admitted);  // still interrupted
  pending.resume();
  EXPECT_TRUE(pending.admit(window(4), 1, false).admitted);
  pending.clear();
  EXPECT_EQ(pending.size(), 0u);
}
