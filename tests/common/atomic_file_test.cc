// Atomic publication: readers and concurrent writers of one path only ever see one
// writer's complete content, and temporary names differ per writer.
#include "common/atomic_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Content that is recognisably writer `w`'s and large enough (1 MiB) that a torn or
// interleaved write would be visible: every byte is the writer's letter.
std::string Content(int w) { return std::string(1 << 20, static_cast<char>('a' + w)); }

int TempFilesIn(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  }
  return n;
}

TEST(AtomicFileTest, WritesAndReplacesLeavingNoTemporaryFile) {
  ScratchDir dir;
  const std::string path = dir.Join("f");
  ASSERT_THAT(WriteFileAtomically(path, "first"), IsOk());
  EXPECT_EQ(ReadAll(path), "first");
  ASSERT_THAT(WriteFileAtomically(path, "second"), IsOk());
  EXPECT_EQ(ReadAll(path), "second");
  EXPECT_EQ(TempFilesIn(dir.path()), 0);
}

TEST(AtomicFileTest, TemporaryNamesCarryHostPidAndRandomness) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  const std::string a = UniqueTempPath("/x/f");
  const std::string b = UniqueTempPath("/x/f");
  EXPECT_THAT(a, StartsWith("/x/f.tmp."));
  EXPECT_THAT(a, HasSubstr(absl::StrCat(".", getpid(), ".")));
  EXPECT_THAT(a, HasSubstr(std::string(host).substr(0, 8)));
  EXPECT_NE(a, b);  // same process, same thread: the random part differs
}

TEST(AtomicFileTest, MissingFolderIsAnError) {
  ScratchDir dir;
  EXPECT_FALSE(WriteFileAtomically(dir.Join("no/such/f"), "x").ok());
}

// Two forked processes (different pids, as two containers' writers) and two threads in
// each publish different content to one path, many rounds, while a reader checks every
// version it sees: each is exactly one writer's full content, and so is the last.
TEST(AtomicFileTest, ConcurrentWritersNeverPublishATornFile) {
  ScratchDir dir;
  const std::string path = dir.Join("shared.bin");
  constexpr int kRounds = 60;
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<std::thread> threads;
      std::atomic<bool> failed{false};
      for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
          const std::string content = Content(p * 2 + t);
          for (int r = 0; r < kRounds; ++r) {
            if (!WriteFileAtomically(path, content).ok()) failed = true;
          }
        });
      }
      for (auto& t : threads) t.join();
      _exit(failed ? 1 : 0);
    }
    children.push_back(pid);
  }
  std::set<std::string> valid;
  for (int w = 0; w < 4; ++w) valid.insert(Content(w));
  // Read while they write.
  int reads = 0, torn = 0;
  std::vector<int> statuses(children.size(), -1);
  for (bool running = true; running;) {
    running = false;
    for (size_t i = 0; i < children.size(); ++i) {
      if (statuses[i] != -1) continue;
      int status = 0;
      if (waitpid(children[i], &status, WNOHANG) == children[i]) {
        statuses[i] = status;
      } else {
        running = true;
      }
    }
    if (!std::filesystem::exists(path)) continue;
    ++reads;
    if (!valid.count(ReadAll(path))) ++torn;
  }
  for (int status : statuses) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a writer failed";
  }
  EXPECT_EQ(torn, 0) << "of " << reads << " reads";
  EXPECT_GT(reads, 0);
  EXPECT_TRUE(valid.count(ReadAll(path))) << "the final file is not one writer's";
  EXPECT_EQ(TempFilesIn(dir.path()), 0);
}

}  // namespace
}  // namespace rib
