// --help and --version text shared by rib's binaries (common/program.h, version.h).
#include "common/program.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/version.h"
#include "tests/testing/test_env.h"

ABSL_FLAG(std::string, sample_root, "/tmp/x", "a folder the sample program reads");
ABSL_FLAG(int, sample_count, 3, "how many to read");

namespace rib {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProgramHelp Sample() {
  return {"rib-sample",
          "--sample-root DIR",
          "Reads a folder.",
          {"rib-sample --sample-root=/d"}};
}

TEST(ProgramTest, HelpListsEveryFlagWithItsDefaultInDashSpelling) {
  const std::string text = HelpText(Sample());
  EXPECT_THAT(text, HasSubstr("usage: rib-sample --sample-root DIR\n"));
  EXPECT_THAT(text, HasSubstr("Reads a folder."));
  EXPECT_THAT(text, HasSubstr("  --sample-root  (default: \"/tmp/x\")\n"
                              "      a folder the sample program reads\n"));
  EXPECT_THAT(text,
              HasSubstr("  --sample-count  (default: 3)\n      how many to read\n"));
  EXPECT_THAT(text, HasSubstr("  --help\n"));
  EXPECT_THAT(text, HasSubstr("  --version\n"));
  EXPECT_THAT(text, HasSubstr("example:\n  rib-sample --sample-root=/d\n"));
  // Flags are sorted, and Abseil's own (--flagfile, --helpfull, ...) are not listed.
  EXPECT_LT(text.find("  --sample-count  ("), text.find("  --sample-root  ("));
  EXPECT_THAT(text, Not(HasSubstr("flagfile")));
  EXPECT_THAT(text, Not(HasSubstr("helpfull")));
}

TEST(ProgramDeathTest, UnknownLogFormatExitsTwoNamingIt) {
  std::vector<std::string> words = {"rib-sample", "--log-format=yaml"};
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  EXPECT_EXIT(ParseFlagsOrExit(Sample(), static_cast<int>(argv.size()), argv.data()),
              ::testing::ExitedWithCode(2),
              "rib-sample: unknown --log-format 'yaml' \\(expected text or json\\)");
}

TEST(ProgramTest, VersionNamesReleaseCommitTorchAndCuda) {
  BuildInfo info;
  info.version = "1.2.3";
  info.git_commit = "0123456789ab";
  info.torch_version = "1.13.0";
  info.with_cuda = true;
  EXPECT_EQ(VersionText("rib-run", info),
            "rib-run 1.2.3\ncommit 0123456789ab\nLibTorch 1.13.0\nCUDA yes\n");
  info.with_cuda = false;
  EXPECT_THAT(VersionText("rib-run", info), HasSubstr("\nCUDA no\n"));
}

// The commit embedded at build time is the checkout's HEAD (the build ran just before
// the tests), or "unknown" when the sources are not a git checkout.
TEST(ProgramTest, BuildInfoNamesTheCheckoutsCommit) {
  const BuildInfo info = CurrentBuildInfo();
  EXPECT_THAT(info.version, ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
  EXPECT_THAT(info.torch_version, ::testing::MatchesRegex("[0-9]+\\.[0-9]+.*"));
  const std::string source = testing::SourceDir();
  std::string head;
  if (std::filesystem::exists(source + "/.git")) {
    FILE* git = popen(
        ("git -C '" + source + "' rev-parse --short=12 HEAD 2>/dev/null").c_str(), "r");
    ASSERT_NE(git, nullptr);
    char buf[64] = {};
    if (std::fgets(buf, sizeof(buf), git) != nullptr) head = buf;
    pclose(git);
    while (!head.empty() && (head.back() == '\n' || head.back() == '\r')) head.pop_back();
  }
  if (head.empty()) {
    EXPECT_EQ(info.git_commit, "unknown");
  } else {
    EXPECT_THAT(info.git_commit, ::testing::MatchesRegex(head + "(-dirty)?"));
  }
}

}  // namespace
}  // namespace rib
