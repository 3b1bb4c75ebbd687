// Every binary answers --help (usage, what it does, each flag with its default, an
// example) and --version (rib's version, git commit, LibTorch, CUDA), exit status 0,
// and rejects an unknown flag by name. Runs the built binaries in $RIB_BINARY_DIR/bin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/version.h"

namespace rib {
namespace {

using ::testing::HasSubstr;

struct Ran {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

Ran RunBinary(const std::string& binary, const std::string& args) {
  const char* dir = std::getenv("RIB_BINARY_DIR");
  Ran ran;
  if (dir == nullptr) return ran;
  const std::string command =
      std::string(dir) + "/bin/" + binary + " " + args + " 2>&1 </dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return ran;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) ran.out.append(buf, n);
  const int status = pclose(pipe);
  ran.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return ran;
}

struct Binary {
  std::string name;
  std::string known_flag;  // as --help lists it, with its default
};

class HelpTest : public ::testing::TestWithParam<Binary> {};

TEST_P(HelpTest, HelpListsUsageFlagsWithDefaultsAndAnExample) {
  const Binary& b = GetParam();
  const Ran ran = RunBinary(b.name, "--help");
  EXPECT_EQ(ran.exit_code, 0) << ran.out;
  EXPECT_THAT(ran.out, HasSubstr("usage: " + b.name + " "));
  EXPECT_THAT(ran.out, HasSubstr(b.known_flag));
  EXPECT_THAT(ran.out, HasSubstr("\nexample"));
  EXPECT_THAT(ran.out, HasSubstr(":\n  " + b.name + " "));  // the example command
  EXPECT_THAT(ran.out, ::testing::Not(HasSubstr("No flags matched")));
}

TEST_P(HelpTest, VersionNamesTheBuild) {
  const Binary& b = GetParam();
  const BuildInfo info = CurrentBuildInfo();
  const Ran ran = RunBinary(b.name, "--version");
  EXPECT_EQ(ran.exit_code, 0) << ran.out;
  EXPECT_EQ(ran.out, VersionText(b.name, info));
  EXPECT_THAT(ran.out, HasSubstr("commit " + info.git_commit + "\n"));
  EXPECT_THAT(ran.out, HasSubstr("LibTorch " + info.torch_version + "\n"));
}

TEST_P(HelpTest, AnUnknownFlagIsNamed) {
  const Ran ran = RunBinary(GetParam().name, "--no-such-flag=1");
  EXPECT_NE(ran.exit_code, 0);
  EXPECT_THAT(ran.out, HasSubstr("no_such_flag"));
}

// A stray word (a typo of a flag, a missing "--") is refused by name, before any work.
TEST_P(HelpTest, AStrayArgumentIsRefusedByName) {
  const Ran ran = RunBinary(GetParam().name, "stray");
  EXPECT_EQ(ran.exit_code, 2) << ran.out;
  EXPECT_THAT(ran.out, HasSubstr("'stray'"));
}

// --log-level is defined once, in common/program.cc, so every binary lists it and
// refuses an unknown level the same way, before doing any work.
TEST_P(HelpTest, HelpListsLogLevel) {
  const Ran ran = RunBinary(GetParam().name, "--help");
  EXPECT_EQ(ran.exit_code, 0) << ran.out;
  EXPECT_THAT(ran.out, HasSubstr("  --log-level  (default: \"info\")\n"
                                 "      debug, info, warning or error\n"));
}

TEST_P(HelpTest, AnUnknownLogLevelExits2NamingIt) {
  const std::string& name = GetParam().name;
  const Ran ran = RunBinary(name, "--log-level=loud");
  EXPECT_EQ(ran.exit_code, 2) << ran.out;
  EXPECT_EQ(ran.out, name + ": unknown --log-level 'loud' (expected debug, info, "
                            "warning or error)\n");
}

INSTANTIATE_TEST_SUITE_P(
    Binaries, HelpTest,
    ::testing::Values(Binary{"rib-coordinator", "  --lease-timeout  (default: 30s)"},
                      Binary{"rib-worker", "  --devices  (default: \"cpu:1\")"},
                      Binary{"rib-rank", "  --job-file  (default: \"\")"},
                      Binary{"rib-run", "  --method  (default: \"ft\")"},
                      Binary{
                          "rib-data",
                          "  --source  (default: \"/usr/share/datasets/fashion-mnist\")"},
                      Binary{"rib-pretrain", "  --force  (default: false)"}),
    [](const ::testing::TestParamInfo<Binary>& info) {
      std::string name = info.param.name;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

// The CLI parses its own arguments (client/commands.cc) and says the same things.
TEST(CliHelpTest, HelpAndVersion) {
  const Ran help = RunBinary("rib", "--help");
  EXPECT_EQ(help.exit_code, 0) << help.out;
  EXPECT_THAT(help.out, HasSubstr("rib submit FILE"));
  EXPECT_THAT(help.out, HasSubstr("rib version"));
  for (const char* args : {"--version", "version"}) {
    const Ran version = RunBinary("rib", args);
    EXPECT_EQ(version.exit_code, 0) << version.out;
    EXPECT_EQ(version.out, VersionText("rib")) << args;
  }
}

}  // namespace
}  // namespace rib
