// RankExecutor with real processes: a shell script stands in for `rib-worker
// --rank-mode`, so these tests check launching, the job file, outcomes, kill and drain
// without the engine.
#include "worker/agent/rank_executor.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "worker/agent/job_file.h"

namespace rib::agent {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The fake rank: $3 is the job file. Behaviour is chosen by the job id.
constexpr char kFakeRank[] = R"(#!/bin/sh
job="$3"
dir=$(dirname "$job")
id=$(sed -n 's/^job_id //p' "$job")
case "$id" in
  ok)    [ "$RIB_RANK" = 0 ] && touch "$dir/finished_reported"; exit 0 ;;
  fail)  if [ "$RIB_RANK" = 1 ]; then echo "boom on rank 1" >&2; exit 3; fi
         sleep 30; exit 0 ;;
  drain) trap 'exit 75' TERM; while true; do sleep 0.05; done ;;
  *)     sleep 30 ;;
esac
)";

class RankExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = scratch_.Join("fake-rank.sh");
    std::ofstream(script_) << kFakeRank;
    chmod(script_.c_str(), 0755);
    RankExecutorOptions options;
    options.binary = script_;
    options.coordinator = "127.0.0.1:1";
    options.data_root = scratch_.Join("data");
    options.artifact_root = scratch_.Join("artifacts");
    options.threads_per_slot = 3;
    options.kill_grace = absl::Milliseconds(500);
    executor_ = *RankExecutor::Create(options);
  }

  JobAssignment Job(const std::string& id, int ranks) {
    JobAssignment a;
    a.job_id = id;
    a.attempt = 2;
    a.hash = "h" + id;
    a.spec.devices = ranks;
    a.spec_proto = "proto-bytes";
    a.device_kind = "cpu";
    for (int i = 0; i < ranks; ++i) a.device_ids.push_back(i);
    return a;
  }

  std::string RunDir(const std::string& id) {
    return scratch_.Join("artifacts/runs/" + id + "/attempt-2");
  }

  ScratchDir scratch_;
  std::string script_;
  std::unique_ptr<RankExecutor> executor_;
};

TEST_F(RankExecutorTest, WritesTheJobFileAndSeesRankZerosReport) {
  JobAssignment job = Job("ok", 2);
  job.resume_checkpoint = "checkpoints/hok/epoch-1.ckpt";
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running, executor_->Start(job));
  JobOutcome outcome = running->Wait();
  EXPECT_THAT(outcome.status, IsOk());
  EXPECT_TRUE(outcome.finished_reported);
  EXPECT_FALSE(outcome.drained);

  RIB_ASSERT_OK_AND_ASSIGN(JobFile file, ReadJobFile(RunDir("ok") + "/job.txt"));
  const std::string root = scratch_.Join("artifacts");
  EXPECT_EQ(file.job_id, "ok");
  EXPECT_EQ(file.attempt, 2);
  EXPECT_EQ(file.hash, "hok");
  EXPECT_EQ(file.spec_proto, "proto-bytes");
  EXPECT_EQ(file.coordinator, "127.0.0.1:1");
  EXPECT_EQ(file.weights_out, root + "/weights/hok.safetensors");
  EXPECT_EQ(file.extra_weights_out, root + "/weights/hok.extra.safetensors");
  EXPECT_EQ(file.checkpoint_dir, root + "/checkpoints/hok");
  EXPECT_EQ(file.resume_checkpoint, root + "/checkpoints/hok/epoch-1.ckpt");
  EXPECT_EQ(file.finished_marker, RunDir("ok") + "/finished_reported");
  EXPECT_THAT(file.device_ids, ElementsAre(0, 1));
  EXPECT_EQ(file.threads, 3);
  EXPECT_TRUE(std::filesystem::is_directory(root + "/checkpoints/hok"));
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

TEST_F(RankExecutorTest, DrainSendsSigtermAndRecognisesTheDrainedExitCode) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running,
                           executor_->Start(Job("drain", 2)));
  absl::SleepFor(absl::Milliseconds(300));  // let the shells install their traps
  running->Drain();
  JobOutcome outcome = running->Wait();
  EXPECT_TRUE(outcome.drained) << outcome.status;
  EXPECT_FALSE(outcome.finished_reported);
}

TEST_F(RankExecutorTest, MissingDependencyWeightsAreAnError) {
  JobAssignment job = Job("dep", 1);
  job.spec.dependency_hashes["ft"] = "abc";
  EXPECT_THAT(executor_->Start(job).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'ft'")));
  std::filesystem::create_directories(scratch_.Join("artifacts/weights"));
  std::ofstream(scratch_.Join("artifacts/weights/abc.safetensors")) << "x";
  job.job_id = "ok";
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RunningJob> running, executor_->Start(job));
  running->Wait();
  RIB_ASSERT_OK_AND_ASSIGN(JobFile file, ReadJobFile(RunDir("ok") + "/job.txt"));
  EXPECT_EQ(file.dependency_weights.at("ft"),
            scratch_.Join("artifacts/weights/abc.safetensors"));
}

TEST_F(RankExecutorTest, RejectsPathsEscapingTheArtifactRoot) {
  JobAssignment job = Job("ok", 1);
  job.resume_checkpoint = "../elsewhere.ckpt";
  EXPECT_THAT(executor_->Start(job).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  job = Job("../x", 1);
  EXPECT_THAT(executor_->Start(job).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib::agent
