// FlagArgs: dashes in flag names, not values, become underscores; argv is left alone.
#include "common/flag_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rib {
namespace {

std::vector<std::string> Normalize(std::vector<std::string> args) {
  const std::vector<std::string> typed = args;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  FlagArgs flag_args(static_cast<int>(argv.size()), argv.data());
  // The caller's argv (what /proc/<pid>/cmdline shows) is unchanged.
  EXPECT_EQ(args, typed);
  EXPECT_EQ(flag_args.argc(), static_cast<int>(args.size()));
  EXPECT_EQ(flag_args.argv()[flag_args.argc()], nullptr);
  return std::vector<std::string>(flag_args.argv(), flag_args.argv() + flag_args.argc());
}

TEST(FlagArgs, RewritesNamesNotValues) {
  EXPECT_THAT(Normalize({"rib-run", "--data-root=/a-b/c-d", "--max-steps", "5",
                         "--log_level=info", "-x", "plain-arg"}),
              ::testing::ElementsAre("rib-run", "--data_root=/a-b/c-d", "--max_steps",
                                     "5", "--log_level=info", "-x", "plain-arg"));
}

TEST(FlagArgs, LeavesArgv0AndEverythingAfterDoubleDashAlone) {
  EXPECT_THAT(Normalize({"--odd-name", "--only=a", "--", "--data-root=x"}),
              ::testing::ElementsAre("--odd-name", "--only=a", "--", "--data-root=x"));
}

}  // namespace
}  // namespace rib
