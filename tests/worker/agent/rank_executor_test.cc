// RankExecutor with real processes: agent_fake_rank stands in for rib-rank, so these
// tests check launching, the job file, forwarding rank 0's events over the rank link to
// a real (fake) coordinator, fencing, kill and drain, without the engine.
#include "worker/agent/rank_executor.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/agent/fake_coordinator.h"
#include "worker/protocol/job_file.h"

namespace rib::agent {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kAttempt = 2;

class RankExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* fake_rank = std::getenv("RIB_AGENT_FAKE_RANK");
    ASSERT_NE(fake_rank, nullptr) << "RIB_AGENT_FAKE_RANK is not set";
    RankExecutorOptions options;
    options.binary = fake_rank;
    options.data_root = scratch_.Join("data");
    options.artifact_root = scratch_.Join("artifacts");
    options.threads_per_slot = 3;
    options.kill_grace = absl::Milliseconds(500);
    executor_ = *RankExecutor::Create(options);
    channel_ = grpc::CreateChannel(coordinator_.address(),
                                   grpc::InsecureChannelCredentials());
  }

  // A job of `ranks` ranks whose attempt is the coordinator's current one.
  JobAssignment Job(const std::string& id, int ranks) {
    coordinator_.SetAttempt(id, kAttempt);
    JobAssignment a;
    a.job_id = id;
    a.attempt = kAttempt;
    a.hash = "h" + id;
    a.spec.devices = ranks;
    a.spec_proto = "proto-bytes";
    a.device_kind = "cpu";
    for (int i = 0; i < ranks; ++i) a.device_ids.push_back(i);
    a.events = std::make_shared<EventStream>(
        channel_,
        AttemptLease{id, kAttempt, testing::FakeCoordinator::SecretOf(id, kAttempt)});
    return a;
  }

  std::string RunDir(const std::string& id) {
    return scratch_.Join(absl::StrCat("artifacts/runs/", id, "/attempt-", kAttempt));
  }

  std::vector<v1::JobEvent> Events(const std::string& id) {
    std::vector<v1::JobEvent> out;
    for (const v1::JobEvent& e : coordinator_.events()) {
      if (e.job_id() == id) out.push_back(e);
    }
    return out;
  }

  ScratchDir scratch_;
  testing::FakeCoordinator coordinator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<RankExecutor> executor_;
};

TEST_F(RankExecutorTest, WritesTheJobFileAndForwardsRankZerosEventsInOrder) {
  JobAssignment job = Job("ok", 2);
  job.resume_checkpoint = "checkpoints/hok/epoch-1.ckpt";
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running, executor_->Start(job));
  JobOutcome outcome = running->Wait();
  EXPECT_THAT(outcome.status, IsOk());
  EXPECT_TRUE(outcome.finished_reported);
  EXPECT_FALSE(outcome.drained);

  RIB_ASSERT_OK_AND_ASSIGN(protocol::JobFile file,
                           protocol::ReadJobFile(RunDir("ok") + "/job.txt"));
  const std::string root = scratch_.Join("artifacts");
  EXPECT_EQ(file.job_id, "ok");
  EXPECT_EQ(file.attempt, kAttempt);
  EXPECT_EQ(file.hash, "hok");
  EXPECT_EQ(file.spec_proto, "proto-bytes");
  EXPECT_EQ(file.weights_out, root + "/weights/hok.safetensors");
  EXPECT_EQ(file.extra_weights_out, root + "/weights/hok.extra.safetensors");
  EXPECT_EQ(file.checkpoint_dir, root + "/checkpoints/hok");
  EXPECT_EQ(file.resume_checkpoint, root + "/checkpoints/hok/epoch-1.ckpt");
  EXPECT_THAT(file.device_ids, ElementsAre(0, 1));
  EXPECT_EQ(file.threads, 3);
  // Made for the ranks, and removed once the coordinator acknowledged the success:
  // nothing will resume from a finished job's checkpoints.
  EXPECT_FALSE(std::filesystem::exists(root + "/checkpoints/hok"));

  // Stamped with the lease's job and attempt, paths relative to the artifact root.
  const std::vector<v1::JobEvent> events = Events("ok");
  ASSERT_EQ(events.size(), 4u);
  for (const v1::JobEvent& e : events) {
    EXPECT_EQ(e.attempt(), kAttempt);
    // The agent stamps the lease secret on what the ranks send; they never get it.
    EXPECT_EQ(e.lease_secret(), testing::FakeCoordinator::SecretOf("ok", kAttempt));
  }
  std::ifstream job_txt(RunDir("ok") + "/job.txt");
  const std::string job_text((std::istreambuf_iterator<char>(job_txt)),
                             std::istreambuf_iterator<char>());
  EXPECT_FALSE(job_text.empty());
  EXPECT_THAT(job_text,
              Not(HasSubstr(testing::FakeCoordinator::SecretOf("ok", kAttempt))));
  EXPECT_TRUE(events[0].started());
  EXPECT_EQ(events[1].result().dataset(), "fmnist-val");
  EXPECT_EQ(events[1].result().correct(), 3);
  EXPECT_EQ(events[1].result().total(), 4);
  EXPECT_EQ(events[2].checkpoint(), "checkpoints/hok/epoch-1.ckpt");
  EXPECT_TRUE(events[3].finished().ok());
  EXPECT_EQ(events[3].finished().weights(), "weights/hok.safetensors");
}

TEST_F(RankExecutorTest, AFailedRankFailsTheJobWithItsExitCodeAndStderr) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor_->Start(Job("fail", 2)));
  const absl::Time start = absl::Now();
  JobOutcome outcome = running->Wait();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // rank 0 is killed, not awaited
  EXPECT_FALSE(outcome.finished_reported);
  EXPECT_THAT(outcome.status, StatusIs(absl::StatusCode::kInternal,
                                       AllOf(HasSubstr("rank 1"), HasSubstr("code 3"),
                                             HasSubstr("boom on rank 1"))));
}

TEST_F(RankExecutorTest, RankZeroEndingWithoutFinishedLeavesTheReportToTheAgent) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor_->Start(Job("crash", 1)));
  JobOutcome outcome = running->Wait();
  EXPECT_FALSE(outcome.finished_reported);
  EXPECT_THAT(outcome.status,
              StatusIs(absl::StatusCode::kInternal, HasSubstr("crashed")));
  // What it sent before it died reached the coordinator.
  const std::vector<v1::JobEvent> events = Events("crash");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].started());
}

TEST_F(RankExecutorTest, KillStopsEveryRank) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor_->Start(Job("sleep", 2)));
  const absl::Time start = absl::Now();
  running->Kill();
  JobOutcome outcome = running->Wait();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_FALSE(outcome.status.ok());
  EXPECT_FALSE(outcome.finished_reported);
  EXPECT_FALSE(outcome.drained);
}

TEST_F(RankExecutorTest, DrainedRanksReportTheirCheckpointAndCountAsDrained) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor_->Start(Job("drain", 2)));
  // Rank 0's `started` arriving means it runs (and has its SIGTERM handler).
  ASSERT_TRUE(testing::Eventually([&] { return !Events("drain").empty(); }));
  running->Drain();
  JobOutcome outcome = running->Wait();
  EXPECT_TRUE(outcome.drained) << outcome.status;
  EXPECT_THAT(outcome.status, IsOk());
  EXPECT_FALSE(outcome.finished_reported);
  // The checkpoint was recorded before Wait() returned, so the agent's release comes
  // after it and the next attempt resumes from it.
  const std::vector<v1::JobEvent> events = Events("drain");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].checkpoint(), "checkpoints/hdrain/step-7.ckpt");
  // Kept: the next attempt resumes from it.
  EXPECT_TRUE(std::filesystem::is_directory(scratch_.Join("artifacts/checkpoints/hdrain")));
}

TEST_F(RankExecutorTest, ADrainBeforeTheRanksCanHandleSigtermIsStillADrain) {
  // SIGTERM at once: a rank still starting up dies of it (no handler yet) instead of
  // exiting 75. The lease must still go back as a release, not fail the attempt.
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor_->Start(Job("sleep", 2)));
  running->Drain();
  JobOutcome outcome = running->Wait();
  EXPECT_TRUE(outcome.drained) << outcome.status;
  EXPECT_FALSE(outcome.finished_reported);
}

TEST_F(RankExecutorTest, AHungRankStoppedBySigtermIsAFailureNotADrain) {
  RankExecutorOptions options = executor_->options();
  options.hang_timeout = absl::Milliseconds(300);  // the fake rank never beats
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RankExecutor> executor,
                           RankExecutor::Create(options));
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor->Start(Job("sleep", 2)));
  JobOutcome outcome = running->Wait();
  EXPECT_FALSE(outcome.drained);
  EXPECT_THAT(outcome.status,
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("hung")));
}

TEST_F(RankExecutorTest, AFencedOutAttemptIsKilledAtOnceAndNothingMoreIsReported) {
  JobAssignment job = Job("progress", 2);
  coordinator_.SetAttempt("progress", kAttempt + 1);  // another attempt owns the job
  const absl::Time start = absl::Now();
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running, executor_->Start(job));
  JobOutcome outcome = running->Wait();
  // The ranks would report for 30 s; the first rejected event stops them.
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(outcome.finished_reported);  // the coordinator has answered: nothing to add
  EXPECT_TRUE(Events("progress").empty());
  EXPECT_GE(coordinator_.rejected_reports(), 1);
}

TEST_F(RankExecutorTest, AMalformedMessageOnTheLinkKillsTheRanksWithDataLoss) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor_->Start(Job("garbage", 2)));
  const absl::Time start = absl::Now();
  JobOutcome outcome = running->Wait();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(outcome.finished_reported);
  EXPECT_THAT(outcome.status,
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("not a JobEvent")));
}

TEST_F(RankExecutorTest, MissingDependencyWeightsAreAnError) {
  JobAssignment job = Job("dep", 1);
  job.spec.dependency_hashes["ft"] = "abc";
  EXPECT_THAT(executor_->Start(job).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'ft'")));
  std::filesystem::create_directories(scratch_.Join("artifacts/weights"));
  std::ofstream(scratch_.Join("artifacts/weights/abc.safetensors")) << "x";
  job = Job("ok", 1);
  job.spec.dependency_hashes["ft"] = "abc";
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running, executor_->Start(job));
  running->Wait();
  RIB_ASSERT_OK_AND_ASSIGN(protocol::JobFile file,
                           protocol::ReadJobFile(RunDir("ok") + "/job.txt"));
  EXPECT_EQ(file.dependency_weights.at("ft"),
            scratch_.Join("artifacts/weights/abc.safetensors"));
}

TEST_F(RankExecutorTest, RejectsPathsEscapingTheArtifactRootAndAJobWithoutAStream) {
  JobAssignment job = Job("ok", 1);
  job.resume_checkpoint = "../elsewhere.ckpt";
  EXPECT_THAT(executor_->Start(job).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  job = Job("../x", 1);
  EXPECT_THAT(executor_->Start(job).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  job = Job("ok", 1);
  job.events = nullptr;
  EXPECT_THAT(executor_->Start(job).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("report stream")));
}

}  // namespace
}  // namespace rib::agent
