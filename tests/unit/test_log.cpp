#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/log.h"

TEST(Log, CallbackReceivesEveryLevelAndCanBeCleared) {
  std::vector<std::pair<slowfast::LogLevel, std::string>> seen;
  slowfast::set_log_callback([&](slowfast::LogLevel level, const std::string& message) {
    seen.emplace_back(level, message);
  });
  slowfast::log(slowfast::LogLevel::Debug, "tensor ", 3, " of ", 7);
  slowfast::log(slowfast::LogLevel::Error, "bad file");
  slowfast::set_log_callback(nullptr);
  slowfast::log(slowfast::LogLevel::Debug, "not routed");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, slowfast::LogLevel::Debug);
  EXPECT_EQ(seen[0].second, "tensor 3 of 7");
  EXPECT_EQ(seen[1].first, slowfast::LogLevel::Error);
  EXPECT_EQ(seen[1].second, "bad file");
}
