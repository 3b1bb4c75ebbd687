// RankGroup with real processes (agent_proc_helper): success, a failing rank, a hung
// rank, cancellation from another thread, the rank link's descriptor.
#include "worker/agent/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::agent {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Helper() {
  const char* path = std::getenv("RIB_AGENT_PROC_HELPER");
  return path != nullptr ? path : "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

RankLaunchOptions Options(const ScratchDir& dir, std::vector<std::string> args,
                          int world_size) {
  RankLaunchOptions options;
  options.argv = {Helper()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.world_size = world_size;
  options.log_dir = dir.Join("logs");
  options.kill_grace = absl::Milliseconds(500);
  return options;
}

TEST(RankGroupTest, AllRanksExitZeroWithRendezvousEnvironment) {
  ASSERT_FALSE(Helper().empty()) << "RIB_AGENT_PROC_HELPER is not set";
  ScratchDir dir;
  RankLaunchOptions options = Options(dir, {"ok"}, 3);
  options.env["SOME_VAR"] = "x";
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(options));
  ASSERT_EQ(group->pids().size(), 3u);
  EXPECT_GT(group->master_port(), 0);
  EXPECT_THAT(group->Wait(), IsOk());
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(ReadFile(group->StdoutPath(r)),
              absl::StrCat("rank ", r, " of 3 port ", group->master_port(), "\n"));
    EXPECT_TRUE(group->exits()[r].exited);
    EXPECT_EQ(group->exits()[r].exit_code, 0);
  }
  // Wait() again returns the same result.
  EXPECT_THAT(group->Wait(), IsOk());
}

TEST(RankGroupTest, FailingRankKillsTheOthersAndIsNamed) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(Options(dir, {"fail", "1"}, 2)));
  const pid_t sleeper = group->pids()[0];
  const absl::Time start = absl::Now();
  const absl::Status status = group->Wait();
  const absl::Duration took = absl::Now() - start;
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("rank 1 of 2"), HasSubstr("exited with code 3"),
                             HasSubstr("rank 1: simulated failure"),
                             HasSubstr("some earlier output"))));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("rank 0 of 2")));
  // The sleeping rank (60 s) was killed by SIGTERM well within the grace period.
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_FALSE(Alive(sleeper));
  const std::vector<RankExit> exits = group->exits();
  EXPECT_TRUE(exits[0].signaled);
  EXPECT_EQ(exits[0].term_signal, SIGTERM);
  EXPECT_EQ(exits[1].exit_code, 3);
}

// SIGKILL from outside (e.g. the OOM killer) is transient: UNAVAILABLE, so the job is
// retried; a crash by any other signal stays INTERNAL (next test).
TEST(RankGroupTest, RankKilledFromOutsideIsReportedWithItsSignal) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(Options(dir, {"fail", "7"}, 2)));
  ASSERT_EQ(kill(group->pids()[1], SIGKILL), 0);  // e.g. the OOM killer
  EXPECT_THAT(group->Wait(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("rank 1 of 2"), HasSubstr("killed by signal 9"))));
  EXPECT_FALSE(Alive(group->pids()[0]));
}

TEST(RankGroupTest, RankThatCrashesOnASignalIsAnInternalFailure) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(Options(dir, {"fail", "7"}, 2)));
  ASSERT_EQ(kill(group->pids()[1], SIGSEGV), 0);
  EXPECT_THAT(group->Wait(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("rank 1 of 2"), HasSubstr("killed by signal 11"))));
}

TEST(RankGroupTest, StderrTailIsLimitedToTheLastLines) {
  ScratchDir dir;
  RankLaunchOptions options = Options(dir, {"fail", "0"}, 1);
  options.stderr_tail_lines = 1;
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(options));
  const absl::Status status = group->Wait();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal,
                               AllOf(HasSubstr("rank 0: simulated failure"),
                                     Not(HasSubstr("some earlier output")))));
}

TEST(RankGroupTest, HungRankIsKilledAfterHangTimeout) {
  ScratchDir dir;
  RankLaunchOptions options = Options(dir, {"hang", "1"}, 2);
  // The clock starts at launch: the timeout must also cover starting the helper.
  options.hang_timeout = absl::Milliseconds(700);
  const absl::Time start = absl::Now();
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(options));
  const absl::Status status = group->Wait();
  const absl::Duration took = absl::Now() - start;
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                               AllOf(HasSubstr("rank 1 of 2"), HasSubstr("hung"),
                                     HasSubstr("rank 1: about to hang"))));
  EXPECT_GE(took, absl::Milliseconds(700));
  EXPECT_LT(took, absl::Seconds(5));
  for (pid_t pid : group->pids()) EXPECT_FALSE(Alive(pid));
}

TEST(RankGroupTest, OverallTimeoutKillsEveryRank) {
  ScratchDir dir;
  RankLaunchOptions options = Options(dir, {"fail", "7"}, 2);  // nobody fails: all sleep
  options.overall_timeout = absl::Milliseconds(300);
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(options));
  EXPECT_THAT(group->Wait(), StatusIs(absl::StatusCode::kDeadlineExceeded,
                                      HasSubstr("did not finish within 300ms")));
  for (pid_t pid : group->pids()) EXPECT_FALSE(Alive(pid));
}

TEST(RankGroupTest, KillFromAnotherThreadCancelsWait) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(Options(dir, {"fail", "7"}, 2)));
  std::thread killer([&] {
    absl::SleepFor(absl::Milliseconds(200));
    group->Kill();
  });
  const absl::Time start = absl::Now();
  EXPECT_THAT(group->Wait(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  killer.join();
  for (pid_t pid : group->pids()) EXPECT_FALSE(Alive(pid));
}

TEST(RankGroupTest, DestructorKillsRunningRanks) {
  ScratchDir dir;
  std::vector<pid_t> pids;
  {
    RIB_ASSERT_OK_AND_ASSIGN(auto group,
                             RankGroup::Start(Options(dir, {"fail", "7"}, 2)));
    pids = group->pids();
    for (pid_t pid : pids) EXPECT_TRUE(Alive(pid));
  }
  for (pid_t pid : pids) EXPECT_FALSE(Alive(pid));
}

TEST(RankGroupTest, RejectsBadOptions) {
  ScratchDir dir;
  RankLaunchOptions options = Options(dir, {"ok"}, 1);
  options.argv = {};
  EXPECT_THAT(RankGroup::Start(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options = Options(dir, {"ok"}, 0);
  EXPECT_THAT(RankGroup::Start(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options = Options(dir, {"ok"}, 1);
  options.log_dir = "";
  EXPECT_THAT(RankGroup::Start(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options = Options(dir, {"ok"}, 1);
  options.argv[0] = dir.Join("no-such-binary");
  EXPECT_THAT(RankGroup::Start(options).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no-such-binary")));
}

TEST(RankGroupTest, TheRankLinkReachesRankZeroAsDescriptorThreeAndNothingElseLeaks) {
  ScratchDir dir;
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  int leaked[2];  // a descriptor without close-on-exec must not reach the ranks either
  ASSERT_EQ(pipe(leaked), 0);
  RankLaunchOptions options = Options(dir, {"link"}, 2);
  options.rank_link_fds = {pipe_fds[1]};
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(options));
  close(pipe_fds[1]);
  EXPECT_THAT(group->Wait(), IsOk());
  char buf[64] = {0};
  const ssize_t n = read(pipe_fds[0], buf, sizeof(buf) - 1);
  close(pipe_fds[0]);
  close(leaked[0]);
  close(leaked[1]);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "rank 0 on fd 3\n");
  // What each rank saw: RIB_AGENT_FD only on rank 0; no descriptor above 3 anywhere.
  EXPECT_EQ(ReadFile(group->StdoutPath(0)), "agent fd 3, highest open fd 3\n");
  EXPECT_EQ(ReadFile(group->StdoutPath(1)), "agent fd none, highest open fd 2\n");
}

TEST(RankGroupTest, KillSendsSigkillAtOnce) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(auto group, RankGroup::Start(Options(dir, {"fail", "7"}, 2)));
  group->Kill();
  EXPECT_THAT(group->Wait(), StatusIs(absl::StatusCode::kCancelled));
  for (const RankExit& e : group->exits()) {
    EXPECT_TRUE(e.signaled);
    EXPECT_EQ(e.term_signal, SIGKILL);  // no SIGTERM: that would ask for a checkpoint
  }
}

TEST(PickFreePortTest, ReturnsABindablePort) {
  RIB_ASSERT_OK_AND_ASSIGN(int port, PickFreePort());
  EXPECT_GT(port, 0);
  EXPECT_LE(port, 65535);
}

}  // namespace
}  // namespace rib::agent
