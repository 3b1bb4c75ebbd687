// rib-run as a user (or a worker draining its node) stops it: SIGTERM during a job
// ends it cleanly with exit status 75, a checkpoint to resume from and no final
// weights. Runs the built binary in $RIB_BINARY_DIR/bin on FMNIST-RIB (built in the
// build tree on first use, as the engine's runner test does).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::ScratchDir;
using ::testing::HasSubstr;

// The text after `prefix` in `out` up to the end of its line ("" when absent).
std::string After(const std::string& out, const std::string& prefix) {
  const size_t at = out.find(prefix);
  if (at == std::string::npos) return "";
  const size_t begin = at + prefix.size();
  return out.substr(begin, out.find('\n', begin) - begin);
}

TEST(RunStopTest, SigtermStopsTheJobWithACheckpointAndExitStatus75) {
  const char* binary_dir = std::getenv("RIB_BINARY_DIR");
  ASSERT_NE(binary_dir, nullptr) << "run through ctest";
  const std::string data_root = std::string(binary_dir) + "/test-data";
  std::filesystem::create_directories(data_root);
  ScratchDir out;
  // 100 epochs: far more than the job can do before the signal arrives, so it stops in
  // training (after the first step whose all-reduce sees the flag).
  const std::vector<std::string> args = {
      std::string(binary_dir) + "/bin/rib-run", "--data-root=" + data_root,
      "--arch=fmnist_vit", "--method=ft", "--finetune=fmnist-v2", "--eval=fmnist-a",
      "--epochs=100", "--batch-size=16", "--threads=1", "--checkpoints",
      "--out=" + out.path()};
  int err[2];
  ASSERT_EQ(pipe(err), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    std::FILE* devnull = std::fopen("/dev/null", "w");
    if (devnull != nullptr) dup2(fileno(devnull), STDOUT_FILENO);
    close(err[0]);
    close(err[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err[1]);
  std::FILE* child_err = fdopen(err[0], "r");
  ASSERT_NE(child_err, nullptr);
  // The job's start line is printed once the handlers are installed, before training.
  std::string output;
  bool signalled = false;
  char* line = nullptr;
  size_t capacity = 0;
  while (getline(&line, &capacity, child_err) >= 0) {
    output += line;
    if (!signalled && output.find("ft on fmnist-v2 (job ") != std::string::npos) {
      ASSERT_EQ(kill(pid, SIGTERM), 0);
      signalled = true;
    }
  }
  std::free(line);
  std::fclose(child_err);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(signalled) << output;
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 75) << output;

  const std::string checkpoint = After(output, "resume with --resume=");
  ASSERT_FALSE(checkpoint.empty()) << output;
  EXPECT_TRUE(std::filesystem::path(checkpoint).is_absolute()) << checkpoint;
  EXPECT_THAT(std::filesystem::path(checkpoint).filename().string(),
              ::testing::MatchesRegex("step-[0-9]+\\.ckpt"));
  EXPECT_TRUE(std::filesystem::exists(checkpoint)) << checkpoint;
  EXPECT_THAT(checkpoint, HasSubstr(out.path()));
  EXPECT_THAT(output, HasSubstr("[ft] checkpoint " + checkpoint));
  // Stopped in training: no final weights anywhere under --out.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(out.path())) {
    EXPECT_NE(entry.path().extension(), ".safetensors") << entry.path();
  }
}

}  // namespace
}  // namespace rib
