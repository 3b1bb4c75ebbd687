// ProcessGroup: the group of one, rendezvous errors, and a real 3-rank Gloo group
// (dist_rank_helper processes) doing every collective.
#include "worker/dist/process_group.h"

#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/dist/collectives_expectation.h"
#include "worker/agent/launcher.h"
#include "worker/engine/collectives.h"

namespace rib::dist {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SingleProcessGroupTest, CollectivesLeaveValuesUnchanged) {
  std::unique_ptr<ProcessGroup> group = CreateSingleProcessGroup();
  EXPECT_EQ(group->rank(), 0);
  EXPECT_EQ(group->size(), 1);
  EXPECT_EQ(group->backend(), "single");
  std::vector<torch::Tensor> t{torch::tensor({1.5, -2.0})};
  EXPECT_THAT(group->AllReduceSum(t), IsOk());
  EXPECT_TRUE(torch::equal(t[0], torch::tensor({1.5, -2.0})));
  EXPECT_THAT(group->Broadcast(t, 0), IsOk());
  EXPECT_THAT(group->Barrier(), IsOk());
  EXPECT_THAT(group->Broadcast(t, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<torch::Tensor> undefined{torch::Tensor()};
  EXPECT_THAT(group->AllReduceSum(undefined),
              StatusIs(absl::StatusCode::kInvalidArgument));
  torch::Tensor counts = torch::tensor({int64_t{3}, int64_t{4}});
  EXPECT_THAT(engine::AllReduceSum(group.get(), {counts}), IsOk());
  EXPECT_TRUE(torch::equal(counts, torch::tensor({int64_t{3}, int64_t{4}})));
}

TEST(RendezvousOptionsFromEnvTest, ParsesAndRejects) {
  RIB_ASSERT_OK_AND_ASSIGN(RendezvousOptions options,
                           RendezvousOptionsFromEnv({{"RIB_RANK", "2"},
                                                     {"RIB_WORLD_SIZE", "4"},
                                                     {"RIB_MASTER_ADDR", "10.0.0.1"},
                                                     {"RIB_MASTER_PORT", "29501"}}));
  EXPECT_EQ(options.rank, 2);
  EXPECT_EQ(options.world_size, 4);
  EXPECT_EQ(options.host, "10.0.0.1");
  EXPECT_EQ(options.port, 29501);
  EXPECT_EQ(options.backend, "auto");
  EXPECT_THAT(
      RendezvousOptionsFromEnv({{"RIB_WORLD_SIZE", "4"}, {"RIB_MASTER_PORT", "1"}})
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RIB_RANK")));
  EXPECT_THAT(RendezvousOptionsFromEnv(
                  {{"RIB_RANK", "x"}, {"RIB_WORLD_SIZE", "4"}, {"RIB_MASTER_PORT", "1"}})
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an integer")));
  EXPECT_THAT(RendezvousOptionsFromEnv(
                  {{"RIB_RANK", "4"}, {"RIB_WORLD_SIZE", "4"}, {"RIB_MASTER_PORT", "1"}})
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CreateProcessGroupTest, RejectsBadOptions) {
  RendezvousOptions options;
  options.world_size = 2;
  options.rank = 2;
  options.port = 1234;
  EXPECT_THAT(CreateProcessGroup(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rank 2")));
  options.rank = 0;
  options.port = 0;  // several ranks cannot learn a port rank 0 picked
  EXPECT_THAT(CreateProcessGroup(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port 0")));
  options.port = 1234;
  options.backend = "mpi";
  EXPECT_THAT(CreateProcessGroup(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mpi")));
}

TEST(CreateProcessGroupTest, GlooGroupOfOneOnAFreePort) {
  if (!GlooAvailable()) GTEST_SKIP() << "no Gloo in this build";
  RendezvousOptions options;
  options.backend = "gloo";
  RIB_ASSERT_OK_AND_ASSIGN(auto group, CreateProcessGroup(options));
  EXPECT_EQ(group->backend(), "gloo");
  EXPECT_EQ(group->size(), 1);
  std::vector<torch::Tensor> t{torch::tensor({1.0f, 2.0f})};
  EXPECT_THAT(group->AllReduceSum(t), IsOk());
  EXPECT_TRUE(torch::equal(t[0], torch::tensor({1.0f, 2.0f})));
}

TEST(CreateProcessGroupTest, RendezvousWithNobodyListeningTimesOutUnavailable) {
  RIB_ASSERT_OK_AND_ASSIGN(int port, agent::PickFreePort());
  RendezvousOptions options;
  options.backend = "gloo";
  options.port = port;
  options.rank = 1;
  options.world_size = 2;
  // c10d retries a refused connection once a second while more than a second is left.
  options.timeout = absl::Milliseconds(1500);
  const absl::Time start = absl::Now();
  EXPECT_THAT(CreateProcessGroup(options).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("rank 1 of 2"),
                             HasSubstr(absl::StrCat("127.0.0.1:", port)))));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(CreateProcessGroupTest, RankZeroWaitingForAMissingPeerTimesOutUnavailable) {
  if (!GlooAvailable()) GTEST_SKIP() << "no Gloo in this build";
  RIB_ASSERT_OK_AND_ASSIGN(int port, agent::PickFreePort());
  RendezvousOptions options;
  options.backend = "gloo";
  options.port = port;
  options.rank = 0;
  options.world_size = 2;
  options.timeout = absl::Milliseconds(800);
  const absl::Time start = absl::Now();
  EXPECT_THAT(CreateProcessGroup(options).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("rank 0 of 2"), HasSubstr(absl::StrCat(port)),
                             HasSubstr("1 of 2 ranks joined"))));
  // It waited for the rendezvous timeout, not the (30 min) operation timeout.
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(700));
  EXPECT_LT(took, absl::Seconds(10));
}

TEST(GlooProcessGroupTest, ThreeRanksAllReduceBroadcastBarrierAndCounts) {
  if (!GlooAvailable()) GTEST_SKIP() << "no Gloo in this build";
  const char* helper = std::getenv("RIB_DIST_RANK_HELPER");
  ASSERT_NE(helper, nullptr);
  ScratchDir dir;
  agent::RankLaunchOptions launch;
  launch.argv = {helper, "collectives", dir.path()};
  launch.world_size = 3;
  launch.log_dir = dir.Join("logs");
  launch.overall_timeout = absl::Seconds(60);
  RIB_ASSERT_OK_AND_ASSIGN(auto ranks, agent::RankGroup::Start(launch));
  ASSERT_THAT(ranks->Wait(), IsOk());
  const std::string expected =
      "sum0=6,60\n"
      "sum1=3,3,3,3\n"
      "sum2=0,12,24\n"
      "bcast0=102,102,102\n"
      "bcast1=2\n"
      "counts=3,3,3000\n";
  EXPECT_EQ(testing::ExpectedCollectives(3), expected);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(ReadFile(dir.Join(absl::StrCat("rank", r, ".txt"))), expected)
        << "rank " << r;
  }
}

}  // namespace
}  // namespace rib::dist

namespace rib::dist {
namespace {

// The test process is rank 0; a helper process is rank 1 and exits after a barrier.
TEST(GlooProcessGroupTest, PeerThatExitsMakesCollectivesFailUnavailable) {
  if (!GlooAvailable()) GTEST_SKIP() << "no Gloo in this build";
  const char* helper = std::getenv("RIB_DIST_RANK_HELPER");
  ASSERT_NE(helper, nullptr);
  ScratchDir dir;
  agent::RankLaunchOptions launch;
  launch.argv = {helper, "die", "1", "2"};
  launch.log_dir = dir.Join("logs");
  launch.overall_timeout = absl::Seconds(60);
  RIB_ASSERT_OK_AND_ASSIGN(auto peer, agent::RankGroup::Start(launch));
  RendezvousOptions options;
  options.backend = "gloo";
  options.port = peer->master_port();
  options.world_size = 2;
  options.timeout = absl::Seconds(30);
  options.operation_timeout = absl::Seconds(30);
  RIB_ASSERT_OK_AND_ASSIGN(auto group, CreateProcessGroup(options));
  ASSERT_THAT(group->Barrier(), IsOk());
  EXPECT_THAT(peer->Wait(), StatusIs(absl::StatusCode::kInternal,
                                     AllOf(HasSubstr("exited with code 5"),
                                           HasSubstr("leaving without a word"))));
  std::vector<torch::Tensor> t{torch::ones({4})};
  const absl::Time start = absl::Now();
  EXPECT_THAT(group->AllReduceSum(t),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("rank 0 of 2")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // not the operation timeout
}

// When one rank dies, the others fail too, a little later: Wait() names the cause.
TEST(GlooProcessGroupTest, WaitNamesTheRankThatDiedFirstNotItsCasualties) {
  if (!GlooAvailable()) GTEST_SKIP() << "no Gloo in this build";
  const char* helper = std::getenv("RIB_DIST_RANK_HELPER");
  ASSERT_NE(helper, nullptr);
  ScratchDir dir;
  agent::RankLaunchOptions launch;
  launch.argv = {helper, "die"};
  launch.world_size = 3;
  launch.log_dir = dir.Join("logs");
  launch.overall_timeout = absl::Seconds(60);
  launch.kill_grace = absl::Seconds(2);
  RIB_ASSERT_OK_AND_ASSIGN(auto ranks, agent::RankGroup::Start(launch));
  EXPECT_THAT(ranks->Wait(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("rank 1 of 3"), HasSubstr("exited with code 5"),
                             HasSubstr("leaving without a word"))));
  const std::vector<agent::RankExit> exits = ranks->exits();
  for (const agent::RankExit& e : exits) {
    std::cout << "rank " << e.rank << " exit code " << e.exit_code << " signal "
              << e.term_signal << " at +"
              << absl::FormatDuration(e.exit_time - exits[1].exit_time)
              << " relative to rank 1" << std::endl;
  }
}

}  // namespace
}  // namespace rib::dist
