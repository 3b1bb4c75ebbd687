// NormalizeFlagNames: dashes in flag names, not values, become underscores.
#include "common/flag_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rib {
namespace {

std::vector<std::string> Normalize(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  NormalizeFlagNames(static_cast<int>(argv.size()), argv.data());
  return std::vector<std::string>(argv.begin(), argv.end());
}

TEST(NormalizeFlagNames, RewritesNamesNotValues) {
  EXPECT_THAT(Normalize({"rib-run", "--data-root=/a-b/c-d", "--max-steps", "5",
                         "--log_level=info", "-x", "plain-arg"}),
              ::testing::ElementsAre("rib-run", "--data_root=/a-b/c-d", "--max_steps", "5",
                                     "--log_level=info", "-x", "plain-arg"));
}

TEST(NormalizeFlagNames, LeavesArgv0AndEverythingAfterDoubleDashAlone) {
  EXPECT_THAT(Normalize({"--odd-name", "--only=a", "--", "--data-root=x"}),
              ::testing::ElementsAre("--odd-name", "--only=a", "--", "--data-root=x"));
}

}  // namespace
}  // namespace rib
