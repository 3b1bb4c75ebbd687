// The Repository contract, continued: the attempts of a job and their rank logs
// (issue 17 items 6 and 8; migration 0010). Same fixture as repository_contract.h.
#ifndef RIB_TESTS_SERVER_STORAGE_REPOSITORY_ATTEMPTS_CONTRACT_H_
#define RIB_TESTS_SERVER_STORAGE_REPOSITORY_ATTEMPTS_CONTRACT_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/domain/placement.h"
#include "server/storage/repository_util.h"
#include "tests/server/storage/repository_contract.h"

namespace rib::storage::contract {

// An AppendAttemptLog answer: OK with this end offset.
MATCHER_P(EndsAt, offset, "") { return arg.ok() && *arg == offset; }

inline domain::LogAppend LogOf(const domain::Lease& lease, int64_t offset,
                               std::string data, int rank = 0) {
  domain::LogAppend a;
  a.job_id = lease.job_id;
  a.attempt = lease.attempt;
  a.rank = rank;
  a.offset = offset;
  a.data = std::move(data);
  a.lease_secret = lease.secret;
  a.reporter = kWorkerUser;
  return a;
}

TEST_P(RepositoryContractTest, EveryHandOutIsAnAttemptWithItsWorkerTimesAndEnd) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  const absl::Time t0 = clock_.Now();
  domain::Lease first = AcquireKey(w, r.sweep_id, "m/pre");
  clock_.Advance(absl::Seconds(2));
  ASSERT_THAT(repo_->Report(LeaseReport(first, JobReport::Kind::kStarted)), IsOk());
  JobReport ckpt = LeaseReport(first, JobReport::Kind::kCheckpoint);
  ckpt.checkpoint = "checkpoints/h/attempt-1/epoch-1.ckpt";
  ASSERT_THAT(repo_->Report(ckpt), IsOk());
  // Its lease expires: the attempt ends, the job is queued again.
  clock_.Advance(absl::Seconds(31));
  RIB_ASSERT_OK_AND_ASSIGN(int expired, repo_->ExpireLeases());
  ASSERT_GE(expired, 1);
  domain::Lease second = AcquireKey(w, r.sweep_id, "m/pre");
  ASSERT_EQ(second.attempt, 2);
  domain::ReproRecord repro;
  repro.rib_version = "0.1.0";
  repro.rib_commit = "0123456789ab";
  repro.torch_version = "1.13.0";
  repro.devices = {"cpu: Test CPU", "cpu: Test CPU"};
  repro.host = "node1";
  repro.threads = 2;
  repro.intra_op_threads = 2;
  repro.inter_op_threads = 1;
  repro.blas_core = "Zen";
  repro.world_size = 2;
  repro.wall_seconds = 12.5;
  repro.train_images_per_second = 850.25;
  repro.eval_images_per_second = 2100.5;
  for (const std::string& d : second.spec.eval_datasets) {
    ASSERT_THAT(ReportResult(second, d, 1, 2), IsOk());
  }
  JobReport done = LeaseReport(second, JobReport::Kind::kFinished);
  done.ok = true;
  done.weights = "weights/h.safetensors";
  done.weights_digest = std::string(64, 'a');
  done.repro = repro;
  ASSERT_THAT(repo_->Report(done), IsOk());

  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Attempt> attempts,
                           repo_->ListAttempts(first.job_id));
  ASSERT_THAT(attempts, SizeIs(2));
  const domain::Attempt& a1 = attempts[0];
  EXPECT_EQ(a1.attempt, 1);
  EXPECT_EQ(a1.worker_id, w);
  EXPECT_EQ(a1.worker_name, "node1");
  EXPECT_EQ(a1.leased_at, t0);
  ASSERT_TRUE(a1.started_at.has_value());
  EXPECT_EQ(*a1.started_at, t0 + absl::Seconds(2));
  ASSERT_TRUE(a1.finished_at.has_value());
  EXPECT_EQ(*a1.finished_at, t0 + absl::Seconds(33));
  EXPECT_EQ(a1.end_state, JobState::kQueued);
  EXPECT_THAT(a1.error, HasSubstr("lease"));
  EXPECT_THAT(a1.checkpoints, ElementsAre("checkpoints/h/attempt-1/epoch-1.ckpt"));
  EXPECT_FALSE(a1.repro.has_value());
  const domain::Attempt& a2 = attempts[1];
  EXPECT_EQ(a2.attempt, 2);
  EXPECT_FALSE(a2.started_at.has_value());  // it never reported `started`
  EXPECT_EQ(a2.end_state, JobState::kSucceeded);
  EXPECT_EQ(a2.error, "");
  EXPECT_EQ(a2.code, 0);
  EXPECT_EQ(a2.weights, "weights/h.safetensors");
  EXPECT_EQ(a2.weights_digest, std::string(64, 'a'));
  ASSERT_TRUE(a2.repro.has_value());
  EXPECT_EQ(a2.repro->rib_commit, "0123456789ab");
  EXPECT_EQ(a2.repro->torch_version, "1.13.0");
  EXPECT_THAT(a2.repro->devices, ElementsAre("cpu: Test CPU", "cpu: Test CPU"));
  EXPECT_EQ(a2.repro->host, "node1");
  EXPECT_EQ(a2.repro->threads, 2);
  EXPECT_EQ(a2.repro->inter_op_threads, 1);
  EXPECT_EQ(a2.repro->blas_core, "Zen");
  EXPECT_EQ(a2.repro->world_size, 2);
  // Stored as JSON text: written by FormatCanonicalNumber, which round-trips exactly.
  EXPECT_EQ(a2.repro->wall_seconds, 12.5);
  EXPECT_EQ(a2.repro->train_images_per_second, 850.25);
  EXPECT_EQ(a2.repro->eval_images_per_second, 2100.5);

  EXPECT_THAT(repo_->ListAttempts("no-such-job"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RepositoryContractTest, AFailedAttemptKeepsItsErrorAndCode) {
  NewSweep s = SmallSweep("");
  s.max_attempts = 1;
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(s));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  ASSERT_THAT(Finish(l, false, absl::StatusCode::kFailedPrecondition,
                     "weights do not fit the architecture"),
              IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Attempt> attempts,
                           repo_->ListAttempts(l.job_id));
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].end_state, JobState::kFailed);
  EXPECT_EQ(attempts[0].code, static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(attempts[0].error, HasSubstr("weights do not fit the architecture"));
}

TEST_P(RepositoryContractTest, AReusedJobShowsTheAttemptsThatComputedIt) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult first, repo_->SubmitSweep(SmallSweep("one")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, first.sweep_id, "m/pre");
  ASSERT_THAT(Finish(l, true), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult again, repo_->SubmitSweep(SmallSweep("two")));
  const Job reused = JobsByKey(again.sweep_id).at("m/pre");
  ASSERT_EQ(reused.reused_from, l.job_id);
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Attempt> attempts,
                           repo_->ListAttempts(reused.id));
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_EQ(attempts[0].end_state, JobState::kSucceeded);
  EXPECT_EQ(attempts[0].worker_id, w);
}

TEST_P(RepositoryContractTest, AnAttemptLogKeepsItsNewestMebibyteAndSkipsResends) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  EXPECT_THAT(repo_->AppendAttemptLog(LogOf(l, 0, "line 1\n")), EndsAt(7));
  // A re-send overlapping what is stored appends only the new part.
  EXPECT_THAT(repo_->AppendAttemptLog(LogOf(l, 0, "line 1\nline 2\n")), EndsAt(14));
  EXPECT_THAT(repo_->AppendAttemptLog(LogOf(l, 7, "line 2\n")), EndsAt(14));
  RIB_ASSERT_OK_AND_ASSIGN(domain::LogChunk chunk,
                           repo_->ReadAttemptLog(l.job_id, 0, 0, 0, 1 << 20));
  EXPECT_EQ(chunk.attempt, 1);  // 0 = the latest attempt
  EXPECT_EQ(chunk.data, "line 1\nline 2\n");
  EXPECT_EQ(chunk.start_offset, 0);
  EXPECT_EQ(chunk.end_offset, 14);
  EXPECT_FALSE(chunk.attempt_ended);
  RIB_ASSERT_OK_AND_ASSIGN(chunk, repo_->ReadAttemptLog(l.job_id, 1, 0, 7, 3));
  EXPECT_EQ(chunk.data, "lin");
  EXPECT_EQ(chunk.start_offset, 7);

  // Past 1 MiB only the newest 1 MiB is kept, byte for byte (binary data too).
  std::string big;
  for (int i = 0; i < 1500 * 1024; ++i) big.push_back(static_cast<char>(i % 251));
  int64_t offset = 14;
  for (size_t at = 0; at < big.size(); at += 300 * 1024) {
    const std::string part = big.substr(at, 300 * 1024);
    RIB_ASSERT_OK_AND_ASSIGN(int64_t end,
                             repo_->AppendAttemptLog(LogOf(l, offset, part)));
    offset += static_cast<int64_t>(part.size());
    EXPECT_EQ(end, offset);
  }
  RIB_ASSERT_OK_AND_ASSIGN(chunk, repo_->ReadAttemptLog(l.job_id, 1, 0, 0, 2 << 20));
  const int64_t total = 14 + static_cast<int64_t>(big.size());
  EXPECT_EQ(chunk.end_offset, total);
  EXPECT_EQ(chunk.kept_from, total - (1 << 20));
  EXPECT_EQ(chunk.start_offset, chunk.kept_from);  // asked from 0: the first kept byte
  ASSERT_EQ(chunk.data.size(), size_t{1} << 20);
  EXPECT_EQ(chunk.data, big.substr(big.size() - (1 << 20)));

  // Another rank's log is its own.
  EXPECT_THAT(repo_->AppendAttemptLog(LogOf(l, 0, "rank 1\n", 1)), EndsAt(7));
  RIB_ASSERT_OK_AND_ASSIGN(chunk, repo_->ReadAttemptLog(l.job_id, 1, 1, 0, 100));
  EXPECT_EQ(chunk.data, "rank 1\n");
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Attempt> attempts,
                           repo_->ListAttempts(l.job_id));
  ASSERT_THAT(attempts, SizeIs(1));
  EXPECT_THAT(attempts[0].log_ranks, ElementsAre(0, 1));
}

TEST_P(RepositoryContractTest, OnlyTheAttemptsWorkerMayUploadItsLogEvenAfterItEnded) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  domain::LogAppend wrong_secret = LogOf(l, 0, "forged\n");
  wrong_secret.lease_secret = "not-the-secret";
  EXPECT_THAT(repo_->AppendAttemptLog(wrong_secret),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("lease secret")));
  domain::LogAppend other_worker = LogOf(l, 0, "forged\n");
  other_worker.reporter = "mallory";
  EXPECT_THAT(repo_->AppendAttemptLog(other_worker),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("another worker")));
  domain::LogAppend no_attempt = LogOf(l, 0, "x\n");
  no_attempt.attempt = 7;
  EXPECT_THAT(repo_->AppendAttemptLog(no_attempt), StatusIs(absl::StatusCode::kNotFound));
  // Nothing was stored by the refused calls.
  RIB_ASSERT_OK_AND_ASSIGN(domain::LogChunk chunk,
                           repo_->ReadAttemptLog(l.job_id, 1, 0, 0, 100));
  EXPECT_EQ(chunk.data, "");
  EXPECT_EQ(chunk.end_offset, 0);

  // The attempt fails; its worker still uploads the tail.
  ASSERT_THAT(Finish(l, false, absl::StatusCode::kInternal, "rank 0 crashed"), IsOk());
  EXPECT_THAT(repo_->AppendAttemptLog(LogOf(l, 0, "Segmentation fault\n")), EndsAt(19));
  RIB_ASSERT_OK_AND_ASSIGN(chunk, repo_->ReadAttemptLog(l.job_id, 1, 0, 0, 100));
  EXPECT_EQ(chunk.data, "Segmentation fault\n");
  EXPECT_TRUE(chunk.attempt_ended);
  EXPECT_THAT(repo_->ReadAttemptLog(l.job_id, 9, 0, 0, 100),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no attempt 9")));
  EXPECT_THAT(repo_->ReadAttemptLog("no-such-job", 0, 0, 0, 100),
              StatusIs(absl::StatusCode::kNotFound));
}

// domain::WhyCannotRun (what `rib plan` says) and the hand-out's SQL (AcquireJob) are
// two statements of one rule: on every case, a worker gets the job from AcquireJob,
// asking with all its devices, exactly when WhyCannotRun says it can run it.
TEST_P(RepositoryContractTest, PlacementAgreesWithTheHandOut) {
  struct Case {
    std::string name;
    std::vector<std::string> datasets;
    std::vector<domain::Device> devices;
    bool drain;
    int job_devices;
    std::string job_kind;
    bool runs;
  };
  const std::vector<Case> cases = {
      {"fits", kAllDatasets, {{"cpu", 4, 0}}, false, 1, "", true},
      {"missing dataset",
       {"fmnist-val", "fmnist-v2"},
       {{"cpu", 4, 0}},
       false,
       1,
       "",
       false},
      {"too few devices", kAllDatasets, {{"cpu", 4, 0}}, false, 8, "", false},
      {"all its devices", kAllDatasets, {{"cpu", 4, 0}}, false, 4, "cpu", true},
      {"wrong kind", kAllDatasets, {{"cpu", 4, 0}}, false, 1, "cuda", false},
      {"its kind", kAllDatasets, {{"cuda", 2, 0}}, false, 2, "cuda", true},
      {"draining", kAllDatasets, {{"cpu", 4, 0}}, true, 1, "", false},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    NewSweep s = SmallSweep(absl::StrCat("placement-", n), absl::StrCat("p", n));
    ++n;
    s.jobs.resize(1);
    s.jobs[0].spec.devices = c.job_devices;
    s.jobs[0].device_kind = c.job_kind;
    RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(s));
    const std::string w = RegisterWorker(c.datasets, 0, c.devices);
    if (c.drain) ASSERT_THAT(repo_->DrainWorker(w), IsOk());
    RIB_ASSERT_OK_AND_ASSIGN(std::vector<Worker> workers, repo_->ListWorkers());
    const Worker* worker = nullptr;
    for (const Worker& x : workers) {
      if (x.id == w) worker = &x;
    }
    ASSERT_NE(worker, nullptr);
    const Job job = JobsByKey(r.sweep_id).at("m/pre");
    domain::JobNeeds needs;
    needs.datasets = internal::JobDatasets(job.spec);
    needs.devices = job.spec.devices;
    needs.device_kind = c.job_kind;
    const std::optional<std::string> why = domain::WhyCannotRun(*worker, needs);
    RIB_ASSERT_OK_AND_ASSIGN(
        auto lease,
        repo_->AcquireJob(kWorkerUser, w, c.devices[0].count, c.devices[0].kind));
    EXPECT_EQ(lease.has_value(), c.runs);
    EXPECT_EQ(!why.has_value(), c.runs) << why.value_or("");
    EXPECT_EQ(lease.has_value(), !why.has_value());
    // Nothing of this case is left for the next one's worker.
    ASSERT_THAT(repo_->CancelSweep(r.sweep_id, "test"), IsOk());
  }
}

}  // namespace rib::storage::contract

#endif  // RIB_TESTS_SERVER_STORAGE_REPOSITORY_ATTEMPTS_CONTRACT_H_
