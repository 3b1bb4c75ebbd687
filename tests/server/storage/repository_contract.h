// The Repository contract: one suite of what every Repository (with its
// ChangeNotifier) must do, instantiated against PostgresRepository in
// postgres_repository_test.cc; a future store (a fault-injecting wrapper, another
// database) is checked by instantiating it too.
#ifndef RIB_TESTS_SERVER_STORAGE_REPOSITORY_CONTRACT_H_
#define RIB_TESTS_SERVER_STORAGE_REPOSITORY_CONTRACT_H_

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/robustness_bootstrap.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduling/clock.h"
#include "server/scheduling/retry_policy.h"
#include "server/storage/change_notifier.h"
#include "server/storage/repository.h"
#include "tests/server/testing/sweep_fixtures.h"
#include "tests/testing/status_matchers.h"

namespace rib::storage::contract {

using domain::JobReport;
using domain::JobState;
using domain::SweepState;
using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::rib::testing::kWorkerUser;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

struct Backend {
  std::string name;
  std::unique_ptr<Repository> (*make)(const RepositoryOptions&);
  // The notifier that sees the repository's changes.
  std::unique_ptr<ChangeNotifier> (*make_notifier)();
};

using Topic = ChangeNotifier::Topic;

inline JobSpec Spec(const std::string& model, const std::string& method,
                    const std::string& dataset, int devices = 1) {
  JobSpec s;
  s.model.name = model;
  s.model.arch = "fmnist_vit_tiny";
  s.model.weights = model + ".safetensors";
  s.model.weights_digest = "digest-" + model;
  s.model.num_classes = 10;
  s.method.name = method;
  s.method.kind = method;
  if (method == "lora") s.method.params = {{"rank", "8"}, {"alpha", "1"}};
  s.finetune_dataset = dataset;
  s.eval_datasets = {"fmnist-val", "fmnist-v2", "fmnist-c"};
  s.training.lr = 0.003;
  s.training.epochs = 2;
  s.devices = devices;
  s.suite = "fmnist-rib";
  return s;
}

inline NewJob MakeJob(const std::string& key, JobSpec spec, const std::string& salt,
                      std::vector<std::string> deps = {}) {
  NewJob j;
  j.key = key;
  j.hash = "h-" + salt + "-" + key;
  j.spec = std::move(spec);
  j.depends_on = std::move(deps);
  return j;
}

// A report of `kind` about the lease's attempt, from the lease holder (the tests'
// worker user) with its secret; seq 0: unsequenced.
inline JobReport LeaseReport(const domain::Lease& lease, JobReport::Kind kind,
                             int64_t seq = 0) {
  JobReport r;
  r.job_id = lease.job_id;
  r.attempt = lease.attempt;
  r.lease_secret = lease.secret;
  r.reporter = kWorkerUser;
  r.kind = kind;
  r.seq = seq;
  return r;
}

// m/pre, m/ft/fmnist-v2, m/lp/fmnist-v2, m/lpft/fmnist-v2 (needs lp).
inline NewSweep SmallSweep(const std::string& request_id, const std::string& salt = "a") {
  NewSweep s;
  s.name = "small";
  s.owner = "alice";
  s.priority = 0;
  s.max_attempts = 2;
  s.yaml = "name: small\n";
  s.client_request_id = request_id;
  s.suite = "fmnist-rib";
  s.models = {"m"};
  s.methods = {"ft", "lp", "lpft"};
  s.finetune_datasets = {"fmnist-v2"};
  s.eval_datasets = {"fmnist-val", "fmnist-v2", "fmnist-c"};
  s.jobs.push_back(MakeJob("m/pre", Spec("m", "pre", ""), salt));
  s.jobs.push_back(MakeJob("m/ft/fmnist-v2", Spec("m", "ft", "fmnist-v2"), salt));
  s.jobs.push_back(MakeJob("m/lp/fmnist-v2", Spec("m", "lp", "fmnist-v2"), salt));
  s.jobs.push_back(MakeJob("m/lpft/fmnist-v2", Spec("m", "lpft", "fmnist-v2"), salt,
                           {"m/lp/fmnist-v2"}));
  return s;
}

const std::vector<std::string> kAllDatasets = {"fmnist-val", "fmnist-v2", "fmnist-c"};

class RepositoryContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    RepositoryOptions options;
    options.clock = &clock_;
    options.lease_timeout = absl::Seconds(30);
    // These tests jump the fake clock past lease timeouts with no pass in between; the
    // grace after such a gap has its own test (GraceOptions).
    options.expiry_grace_after = absl::InfiniteDuration();
    repo_ = GetParam().make(options);
    ASSERT_NE(repo_, nullptr);
    changes_ = GetParam().make_notifier();
    ASSERT_NE(changes_, nullptr);
  }

  std::map<std::string, Job> JobsByKey(const std::string& sweep_id) {
    JobFilter f;
    f.sweep_id = sweep_id;
    auto list = repo_->ListJobs(f);
    EXPECT_THAT(list, IsOk());
    std::map<std::string, Job> out;
    if (list.ok()) {
      for (Job& j : list->jobs) out[j.key] = j;
    }
    return out;
  }

  std::string RegisterWorker(std::vector<std::string> datasets = kAllDatasets,
                             int devices = 4, std::vector<domain::Device> kinds = {}) {
    WorkerRegistration reg;
    // A distinct name per worker: a registration of the same name and token user is
    // the same worker again (it reuses the row).
    reg.name = "node" + std::to_string(++workers_registered_);
    reg.principal = kWorkerUser;
    reg.devices =
        kinds.empty() ? std::vector<domain::Device>{{"cpu", devices, 0}} : kinds;
    reg.datasets = std::move(datasets);
    reg.labels = {"test"};
    auto w = repo_->RegisterWorker(reg);
    EXPECT_THAT(w, IsOk());
    return w.ok() ? w->id : "";
  }

  // A failed attempt (ok = false) ends with `code`, or is a release. A success first
  // reports 1/2 for every eval dataset the test has not reported (a success needs a
  // result for each).
  absl::Status Finish(const domain::Lease& lease, bool ok,
                      absl::StatusCode code = absl::StatusCode::kUnknown,
                      const std::string& error = "", bool released = false) {
    if (ok) {
      auto job = repo_->GetJob(lease.job_id);
      if (!job.ok()) return job.status();
      for (const std::string& d : lease.spec.eval_datasets) {
        bool have = false;
        for (const ResultRow& row : job->results) have = have || row.dataset == d;
        if (!have) RIB_RETURN_IF_ERROR(ReportResult(lease, d, 1, 2));
      }
    }
    JobReport r = LeaseReport(lease, JobReport::Kind::kFinished);
    r.ok = ok;
    r.code = code;
    r.released = released;
    r.error = error;
    r.weights = ok ? "weights/" + lease.hash + ".safetensors" : "";
    return repo_->Report(r);
  }

  absl::Status ReportResult(const domain::Lease& lease, const std::string& dataset,
                            int64_t correct, int64_t total,
                            const std::string& subset = "", int attempt = 0) {
    JobReport r = LeaseReport(lease, JobReport::Kind::kResult);
    if (attempt > 0) r.attempt = attempt;
    r.result = {dataset, subset, correct, total, 0};
    return repo_->Report(r);
  }

  // Leases jobs until the one with `key` comes out (the others stay leased).
  domain::Lease AcquireKey(const std::string& worker, const std::string& sweep_id,
                           const std::string& key) {
    const std::string id = JobsByKey(sweep_id).at(key).id;
    for (int i = 0; i < 20; ++i) {
      auto lease = repo_->AcquireJob(kWorkerUser, worker, 8, "cpu");
      EXPECT_THAT(lease, IsOk());
      if (!lease.ok() || !lease->has_value()) break;
      if ((*lease)->job_id == id) return **lease;
    }
    ADD_FAILURE() << "job " << key << " was never handed out";
    return {};
  }

  scheduling::FakeClock clock_;
  std::unique_ptr<Repository> repo_;
  int workers_registered_ = 0;
  std::unique_ptr<ChangeNotifier> changes_;
};

TEST_P(RepositoryContractTest, SubmitCreatesJobsInTheirInitialStates) {
  const uint64_t queue = changes_->Counter(Topic::kQueue);
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("req-1")));
  EXPECT_FALSE(r.existing);
  EXPECT_EQ(r.jobs_total, 4);
  EXPECT_EQ(r.jobs_new, 4);
  EXPECT_EQ(r.jobs_reused, 0);
  // Long-polls waiting for work are woken.
  EXPECT_GT(changes_->WaitForChange(Topic::kQueue, queue, absl::Seconds(5)), queue);

  RIB_ASSERT_OK_AND_ASSIGN(Sweep s, repo_->GetSweep(r.sweep_id));
  EXPECT_EQ(s.name, "small");
  EXPECT_EQ(s.owner, "alice");
  EXPECT_EQ(s.client_request_id, "req-1");
  EXPECT_EQ(s.state, SweepState::kActive);
  EXPECT_EQ(s.yaml, "name: small\n");
  EXPECT_EQ(s.models, std::vector<std::string>{"m"});
  EXPECT_EQ(s.methods, (std::vector<std::string>{"ft", "lp", "lpft"}));
  EXPECT_EQ(s.eval_datasets, kAllDatasets);
  EXPECT_EQ(s.created_at, clock_.Now());
  EXPECT_EQ(s.counts,
            (std::map<JobState, int>{{JobState::kQueued, 3}, {JobState::kPending, 1}}));

  auto jobs = JobsByKey(r.sweep_id);
  ASSERT_THAT(jobs, SizeIs(4));
  const Job& lpft = jobs.at("m/lpft/fmnist-v2");
  EXPECT_EQ(lpft.state, JobState::kPending);
  EXPECT_EQ(lpft.depends_on, std::vector<std::string>{jobs.at("m/lp/fmnist-v2").id});
  EXPECT_EQ(lpft.attempt, 0);
  EXPECT_EQ(lpft.max_attempts, 2);
  EXPECT_EQ(lpft.owner, "alice");

  RIB_ASSERT_OK_AND_ASSIGN(Job got, repo_->GetJob(jobs.at("m/ft/fmnist-v2").id));
  EXPECT_EQ(got.hash, "h-a-m/ft/fmnist-v2");
  EXPECT_EQ(got.spec.model.weights_digest, "digest-m");
  EXPECT_EQ(got.spec.method.kind, "ft");
  EXPECT_EQ(got.spec.finetune_dataset, "fmnist-v2");
  EXPECT_EQ(got.spec.eval_datasets, kAllDatasets);
  EXPECT_DOUBLE_EQ(got.spec.training.lr, 0.003);
  EXPECT_EQ(got.spec.training.epochs, 2);
  EXPECT_EQ(got.spec.model.preprocessing.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_TRUE(got.results.empty());
}

TEST_P(RepositoryContractTest, SpecRoundTripsEveryField) {
  NewSweep s = SmallSweep("");
  JobSpec& spec = s.jobs[1].spec;
  spec.method.params = {{"alpha", "0.5"}, {"quote", "a\"b\\c"}};
  spec.method.members = {"ft", "lp"};
  spec.dependency_hashes = {{"ft", "abc"}};
  spec.training.weight_decay = 1e-4;
  spec.training.seed = 1234567890123;
  spec.training.skip_corrupt = true;
  spec.test_fraction = 0.1;
  spec.model.preprocessing.crop_pct = 0.875;
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(s));
  RIB_ASSERT_OK_AND_ASSIGN(Job got,
                           repo_->GetJob(JobsByKey(r.sweep_id).at(s.jobs[1].key).id));
  EXPECT_EQ(got.spec.method.params, spec.method.params);
  EXPECT_EQ(got.spec.method.members, spec.method.members);
  EXPECT_EQ(got.spec.dependency_hashes, spec.dependency_hashes);
  EXPECT_EQ(got.spec.training.weight_decay, 1e-4);
  EXPECT_EQ(got.spec.training.seed, 1234567890123);
  EXPECT_TRUE(got.spec.training.skip_corrupt);
  EXPECT_EQ(got.spec.test_fraction, 0.1);
  EXPECT_EQ(got.spec.model.preprocessing.crop_pct, 0.875);
}

TEST_P(RepositoryContractTest, SameRequestIdReturnsTheSameSweepAndCreatesNothing) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult first, repo_->SubmitSweep(SmallSweep("req-1")));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult again, repo_->SubmitSweep(SmallSweep("req-1")));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.sweep_id, first.sweep_id);
  EXPECT_EQ(again.jobs_total, 4);
  RIB_ASSERT_OK_AND_ASSIGN(SweepList sweeps, repo_->ListSweeps(0, ""));
  EXPECT_THAT(sweeps.sweeps, SizeIs(1));
  RIB_ASSERT_OK_AND_ASSIGN(JobList jobs, repo_->ListJobs(JobFilter{}));
  EXPECT_EQ(jobs.total, 4);
}

TEST_P(RepositoryContractTest, ARequestIdBelongsToItsOwner) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult alice, repo_->SubmitSweep(SmallSweep("req-1")));
  // Bob picks the same id: he gets a sweep of his own, not Alice's.
  NewSweep bobs = SmallSweep("req-1", "b");
  bobs.owner = "bob";
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult bob, repo_->SubmitSweep(bobs));
  EXPECT_FALSE(bob.existing);
  EXPECT_NE(bob.sweep_id, alice.sweep_id);
  RIB_ASSERT_OK_AND_ASSIGN(Sweep got, repo_->GetSweep(bob.sweep_id));
  EXPECT_EQ(got.owner, "bob");
  // Each owner's repeat still returns their own first sweep.
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult again, repo_->SubmitSweep(bobs));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.sweep_id, bob.sweep_id);
  RIB_ASSERT_OK_AND_ASSIGN(again, repo_->SubmitSweep(SmallSweep("req-1")));
  EXPECT_EQ(again.sweep_id, alice.sweep_id);
}

TEST_P(RepositoryContractTest, RejectsMalformedSweeps) {
  NewSweep s = SmallSweep("");
  s.jobs[3].depends_on = {"m/nope"};
  EXPECT_THAT(repo_->SubmitSweep(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("m/nope")));
  s = SmallSweep("");
  s.jobs[2].key = s.jobs[1].key;
  EXPECT_THAT(repo_->SubmitSweep(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("duplicate job key")));
}

TEST_P(RepositoryContractTest, UnknownIdsAreNotFound) {
  EXPECT_THAT(repo_->GetSweep("no-such"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(repo_->GetJob("no-such"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(repo_->CancelSweep("no-such", "alice"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(repo_->RetrySweep("no-such", "alice"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(repo_->GetMatrixJobs("no-such"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(repo_->Heartbeat(kWorkerUser, "no-such", {}, 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(repo_->AcquireJob(kWorkerUser, "no-such", 1, "cpu"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(repo_->DrainWorker("no-such"), StatusIs(absl::StatusCode::kNotFound));
  JobReport r;
  r.job_id = "no-such";
  r.attempt = 1;
  EXPECT_THAT(repo_->Report(r), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RepositoryContractTest, ListJobsFiltersPagesAndCounts) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult a, repo_->SubmitSweep(SmallSweep("a", "a")));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult b, repo_->SubmitSweep(SmallSweep("b", "b")));
  JobFilter f;
  f.sweep_id = b.sweep_id;
  f.page_size = 3;
  RIB_ASSERT_OK_AND_ASSIGN(JobList page1, repo_->ListJobs(f));
  EXPECT_EQ(page1.total, 4);
  ASSERT_THAT(page1.jobs, SizeIs(3));
  EXPECT_EQ(page1.jobs[0].key, "m/pre");
  ASSERT_FALSE(page1.next_page_token.empty());
  f.page_token = page1.next_page_token;
  RIB_ASSERT_OK_AND_ASSIGN(JobList page2, repo_->ListJobs(f));
  ASSERT_THAT(page2.jobs, SizeIs(1));
  EXPECT_EQ(page2.jobs[0].key, "m/lpft/fmnist-v2");
  EXPECT_EQ(page2.jobs[0].sweep_id, b.sweep_id);
  EXPECT_TRUE(page2.next_page_token.empty());

  JobFilter pending;
  pending.state = JobState::kPending;
  RIB_ASSERT_OK_AND_ASSIGN(JobList p, repo_->ListJobs(pending));
  EXPECT_EQ(p.total, 2);
  JobFilter bad;
  bad.page_token = "x";
  EXPECT_THAT(repo_->ListJobs(bad), StatusIs(absl::StatusCode::kInvalidArgument));

  RIB_ASSERT_OK_AND_ASSIGN(SweepList s1, repo_->ListSweeps(1, ""));
  ASSERT_THAT(s1.sweeps, SizeIs(1));
  EXPECT_EQ(s1.sweeps[0].id, b.sweep_id);  // newest first
  RIB_ASSERT_OK_AND_ASSIGN(SweepList s2, repo_->ListSweeps(1, s1.next_page_token));
  ASSERT_THAT(s2.sweeps, SizeIs(1));
  EXPECT_EQ(s2.sweeps[0].id, a.sweep_id);
  EXPECT_TRUE(s2.next_page_token.empty());
}

TEST_P(RepositoryContractTest, ListSweepsCountsEachSweepsOwnJobs) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult a, repo_->SubmitSweep(SmallSweep("a", "a")));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult b, repo_->SubmitSweep(SmallSweep("b", "b")));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult c, repo_->SubmitSweep(SmallSweep("c", "c")));
  ASSERT_THAT(repo_->CancelSweep(a.sweep_id, "alice").status(), IsOk());
  using Counts = std::map<JobState, int>;
  const Counts fresh = {{JobState::kQueued, 3}, {JobState::kPending, 1}};
  RIB_ASSERT_OK_AND_ASSIGN(SweepList all, repo_->ListSweeps(0, ""));
  ASSERT_THAT(all.sweeps, SizeIs(3));
  EXPECT_EQ(all.sweeps[0].id, c.sweep_id);
  EXPECT_EQ(all.sweeps[0].counts, fresh);
  EXPECT_EQ(all.sweeps[1].counts, fresh);
  EXPECT_EQ(all.sweeps[2].id, a.sweep_id);
  EXPECT_EQ(all.sweeps[2].counts, (Counts{{JobState::kCancelled, 4}}));
  // A page holds the counts of its own sweeps only.
  RIB_ASSERT_OK_AND_ASSIGN(SweepList first, repo_->ListSweeps(2, ""));
  ASSERT_THAT(first.sweeps, SizeIs(2));
  RIB_ASSERT_OK_AND_ASSIGN(SweepList last, repo_->ListSweeps(2, first.next_page_token));
  ASSERT_THAT(last.sweeps, SizeIs(1));
  EXPECT_EQ(last.sweeps[0].id, a.sweep_id);
  EXPECT_EQ(last.sweeps[0].counts, (Counts{{JobState::kCancelled, 4}}));
  EXPECT_EQ(b.jobs_total, 4);
}

TEST_P(RepositoryContractTest, AcquireHandsOutFittingJobsWithGrowingAttempts) {
  NewSweep s = SmallSweep("");
  s.jobs[1].spec.devices = 4;  // ft needs 4 devices
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(s));
  auto jobs = JobsByKey(r.sweep_id);
  // A worker missing a dataset gets nothing.
  const std::string partial = RegisterWorker({"fmnist-val", "fmnist-v2"});
  RIB_ASSERT_OK_AND_ASSIGN(auto none, repo_->AcquireJob(kWorkerUser, partial, 8, "cpu"));
  EXPECT_FALSE(none.has_value());

  const std::string w = RegisterWorker();
  // 2 free devices: ft (4 devices) does not fit; pre comes first (oldest).
  RIB_ASSERT_OK_AND_ASSIGN(auto l1, repo_->AcquireJob(kWorkerUser, w, 2, "cpu"));
  ASSERT_TRUE(l1.has_value());
  EXPECT_EQ(l1->job_id, jobs.at("m/pre").id);
  EXPECT_EQ(l1->attempt, 1);
  EXPECT_EQ(l1->hash, "h-a-m/pre");
  EXPECT_EQ(l1->spec.method.kind, "pre");
  RIB_ASSERT_OK_AND_ASSIGN(auto l2, repo_->AcquireJob(kWorkerUser, w, 2, "cpu"));
  ASSERT_TRUE(l2.has_value());
  EXPECT_EQ(l2->job_id, jobs.at("m/lp/fmnist-v2").id);
  RIB_ASSERT_OK_AND_ASSIGN(auto l3, repo_->AcquireJob(kWorkerUser, w, 2, "cpu"));
  EXPECT_FALSE(l3.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(auto l4, repo_->AcquireJob(kWorkerUser, w, 4, "cpu"));
  ASSERT_TRUE(l4.has_value());
  EXPECT_EQ(l4->job_id, jobs.at("m/ft/fmnist-v2").id);

  RIB_ASSERT_OK_AND_ASSIGN(Job pre, repo_->GetJob(l1->job_id));
  EXPECT_EQ(pre.state, JobState::kLeased);
  EXPECT_EQ(pre.worker_id, w);
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<Worker> workers, repo_->ListWorkers());
  ASSERT_THAT(workers, SizeIs(2));
  EXPECT_THAT(workers[1].running_jobs, SizeIs(3));
  EXPECT_EQ(workers[1].datasets, kAllDatasets);
}

TEST_P(RepositoryContractTest, HigherPriorityThenFairShareThenAge) {
  NewSweep low = SmallSweep("low", "low");
  low.jobs.resize(2);
  NewSweep high = SmallSweep("high", "high");
  high.jobs.resize(1);
  high.priority = 5;
  high.owner = "bob";
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult lr, repo_->SubmitSweep(low));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult hr, repo_->SubmitSweep(high));
  NewSweep carol = SmallSweep("carol", "carol");
  carol.jobs.resize(1);
  carol.owner = "carol";
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult cr, repo_->SubmitSweep(carol));
  const std::string w = RegisterWorker();
  RIB_ASSERT_OK_AND_ASSIGN(auto first, repo_->AcquireJob(kWorkerUser, w, 1, "cpu"));
  EXPECT_EQ(first->job_id, JobsByKey(hr.sweep_id).at("m/pre").id);  // priority
  RIB_ASSERT_OK_AND_ASSIGN(auto second, repo_->AcquireJob(kWorkerUser, w, 1, "cpu"));
  EXPECT_EQ(second->job_id, JobsByKey(lr.sweep_id).at("m/pre").id);  // oldest
  // alice now uses 1 device, carol none: carol's job goes before alice's older one.
  RIB_ASSERT_OK_AND_ASSIGN(auto third, repo_->AcquireJob(kWorkerUser, w, 1, "cpu"));
  EXPECT_EQ(third->job_id, JobsByKey(cr.sweep_id).at("m/pre").id);
}

TEST_P(RepositoryContractTest, StaleAttemptIsRejectedAndChangesNothing) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease first = AcquireKey(w, r.sweep_id, "m/pre");
  ASSERT_THAT(ReportResult(first, "fmnist-val", 80, 100), IsOk());
  // The lease expires; the job is handed out again as attempt 2.
  clock_.Advance(absl::Seconds(31));
  RIB_ASSERT_OK_AND_ASSIGN(int expired, repo_->ExpireLeases());
  EXPECT_GE(expired, 1);
  domain::Lease second = AcquireKey(w, r.sweep_id, "m/pre");
  EXPECT_EQ(second.attempt, 2);
  ASSERT_THAT(ReportResult(second, "fmnist-val", 90, 100), IsOk());
  // The old attempt writes late: rejected, result unchanged.
  EXPECT_THAT(ReportResult(first, "fmnist-val", 10, 100),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("attempt 1, but the job is at attempt 2")));
  EXPECT_THAT(Finish(first, true), StatusIs(absl::StatusCode::kFailedPrecondition));
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(second.job_id));
  EXPECT_EQ(job.state, JobState::kLeased);
  ASSERT_THAT(job.results, SizeIs(1));
  EXPECT_EQ(job.results[0].correct, 90);
  // A report for a finished job is stale too.
  ASSERT_THAT(Finish(second, true), IsOk());
  EXPECT_THAT(ReportResult(second, "fmnist-val", 1, 100),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("SUCCEEDED")));
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(second.job_id));
  ASSERT_THAT(job.results, SizeIs(3));  // Finish added fmnist-c and fmnist-v2
  EXPECT_EQ(job.results[2].dataset, "fmnist-val");
  EXPECT_EQ(job.results[2].correct, 90);
}

TEST_P(RepositoryContractTest, ResultsUpsertPerDatasetAndSubset) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  ASSERT_THAT(ReportResult(l, "fmnist-c", 5, 10, "gaussian_noise/1"), IsOk());
  ASSERT_THAT(ReportResult(l, "fmnist-c", 6, 10, "gaussian_noise/2"), IsOk());
  ASSERT_THAT(ReportResult(l, "fmnist-c", 7, 10, "gaussian_noise/1"), IsOk());
  EXPECT_THAT(ReportResult(l, "fmnist-c", 11, 10, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  ASSERT_THAT(job.results, SizeIs(2));
  EXPECT_EQ(job.results[0].subset, "gaussian_noise/1");
  EXPECT_EQ(job.results[0].correct, 7);
  EXPECT_EQ(job.results[1].correct, 6);
}

// The result row of `dataset` of job `job_id` in the matrix query's answer, or nullptr.
inline const ResultRow* MatrixResult(const std::vector<MatrixJob>& jobs,
                                     const std::string& job_id,
                                     const std::string& dataset) {
  for (const MatrixJob& m : jobs) {
    for (const ResultRow& row : m.results) {
      if (m.job_id == job_id && row.dataset == dataset) return &row;
    }
  }
  return nullptr;
}

// Per-image bits (migration 0012): stored byte for byte, read back by GetJob and by
// the matrix's query, popcount == correct; bits that disagree with the counts are
// refused.
TEST_P(RepositoryContractTest, PerImageBitsRoundTrip) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  // 11 images (2 bytes), right: 0, 2, 7, 8, 10; every byte value kind, a NUL included.
  const std::string bits("\x85\x05", 2);
  JobReport report = LeaseReport(l, JobReport::Kind::kResult);
  report.result = {"fmnist-v2", "", 5, 11, 0, bits};
  ASSERT_THAT(repo_->Report(report), IsOk());
  JobReport zeros = LeaseReport(l, JobReport::Kind::kResult);
  zeros.result = {"fmnist-c", "fog/1", 0, 7, 1, std::string("\x00", 1)};
  ASSERT_THAT(repo_->Report(zeros), IsOk());
  ASSERT_THAT(ReportResult(l, "fmnist-val", 1, 2), IsOk());  // no bits
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  std::map<std::string, std::string> stored;
  for (const ResultRow& row : job.results) stored[row.dataset] = row.correct_bits;
  EXPECT_EQ(stored["fmnist-v2"], bits);
  EXPECT_EQ(stored["fmnist-c"], std::string("\x00", 1));
  EXPECT_EQ(stored["fmnist-val"], "");
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<MatrixJob> jobs, repo_->GetMatrixJobs(r.sweep_id));
  const ResultRow* row = MatrixResult(jobs, l.job_id, "fmnist-v2");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->correct_bits, bits);
  RIB_ASSERT_OK_AND_ASSIGN(int64_t right,
                           CountBits(row->correct_bits, "", row->total + row->skipped));
  EXPECT_EQ(right, row->correct);
  // 5 right in the counts, 4 in the bits; and 1 byte for 11 images.
  report.result = {"fmnist-v2", "", 5, 11, 0, std::string("\x0f\x00", 2)};
  EXPECT_THAT(repo_->Report(report),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("count 4 right")));
  report.result = {"fmnist-v2", "", 5, 11, 0, std::string("\x1f", 1)};
  EXPECT_THAT(repo_->Report(report),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("for 11 images")));
}

// Evaluated bits (migration 0013): which of a (dataset, subset)'s images a held-out
// result scored, stored byte for byte beside correct_bits and read back by GetJob and
// the matrix's query; bits that disagree with the counts, or right images outside the
// evaluated ones, are refused naming the dataset and subset.
TEST_P(RepositoryContractTest, EvaluatedBitsRoundTrip) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  // 16 positions (2 bytes) of which 0-3, 8 and 10 were evaluated (6), right: 0, 2, 8
  // (3); one decode failure, not evaluated.
  const std::string evaluated("\x0f\x05", 2);
  const std::string correct("\x05\x01", 2);
  JobReport report = LeaseReport(l, JobReport::Kind::kResult);
  report.result = {"fmnist-v2", "", 3, 6, 1, correct, evaluated};
  ASSERT_THAT(repo_->Report(report), IsOk());
  // A subset of one byte: image 0 evaluated and wrong (a NUL correct byte).
  JobReport sub = LeaseReport(l, JobReport::Kind::kResult);
  sub.result = {"fmnist-c", "fog/1", 0, 1, 0, std::string("\x00", 1),
                std::string("\x01", 1)};
  ASSERT_THAT(repo_->Report(sub), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  std::map<std::string, ResultRow> stored;
  for (const ResultRow& row : job.results) stored[row.dataset] = row;
  EXPECT_EQ(stored["fmnist-v2"].correct_bits, correct);
  EXPECT_EQ(stored["fmnist-v2"].evaluated_bits, evaluated);
  EXPECT_EQ(stored["fmnist-c"].evaluated_bits, std::string("\x01", 1));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<MatrixJob> jobs, repo_->GetMatrixJobs(r.sweep_id));
  const ResultRow* row = MatrixResult(jobs, l.job_id, "fmnist-v2");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->correct_bits, correct);
  EXPECT_EQ(row->evaluated_bits, evaluated);
  // A row written without evaluated bits reads back "" (all evaluated).
  report.result = {"fmnist-val", "", 1, 2, 0, std::string("\x01", 1)};
  ASSERT_THAT(repo_->Report(report), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l.job_id));
  for (const ResultRow& row : job.results) {
    if (row.dataset == "fmnist-val") EXPECT_EQ(row.evaluated_bits, "");
  }
  // Bad bits: the evaluated ones count 6, not total 7; a right image (bit 4) that was
  // not evaluated; 3 right in the bits for correct = 4; lengths that differ.
  report.result = {"fmnist-v2", "", 3, 7, 0, correct, evaluated};
  EXPECT_THAT(repo_->Report(report),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("dataset fmnist-v2 subset ''"),
                             HasSubstr("evaluated bits mark 6 images, not total = 7"))));
  report.result = {"fmnist-v2", "", 3, 6, 1, std::string("\x15\x00", 2), evaluated};
  EXPECT_THAT(repo_->Report(report),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("count 3 right images (2 of them evaluated)")));
  report.result = {"fmnist-v2", "", 4, 6, 1, correct, evaluated};
  EXPECT_THAT(repo_->Report(report),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not correct = 4")));
  sub.result = {"fmnist-c", "fog/1", 0, 1, 0, std::string("\x00\x00", 2),
                std::string("\x01", 1)};
  EXPECT_THAT(repo_->Report(sub),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("subset 'fog/1'"),
                             HasSubstr("2 bytes of per-image bits but 1 bytes"))));
  // The refused reports changed nothing.
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l.job_id));
  for (const ResultRow& row : job.results) {
    if (row.dataset == "fmnist-v2") {
      EXPECT_EQ(row.total, 6);
      EXPECT_EQ(row.evaluated_bits, evaluated);
    }
  }
}

TEST_P(RepositoryContractTest, LeaseExpiryRequeuesThenFailsAfterMaxAttempts) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l1 = AcquireKey(w, r.sweep_id, "m/lp/fmnist-v2");
  // Heartbeats keep it alive past the timeout.
  clock_.Advance(absl::Seconds(20));
  RIB_ASSERT_OK_AND_ASSIGN(HeartbeatResult hb,
                           repo_->Heartbeat(kWorkerUser, w, {{l1.job_id, l1.attempt}}, 3));
  EXPECT_TRUE(hb.revoked.empty());
  clock_.Advance(absl::Seconds(20));
  RIB_ASSERT_OK_AND_ASSIGN(int n, repo_->ExpireLeases());
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l1.job_id));
  EXPECT_EQ(job.state, JobState::kLeased);
  // Now it stops heartbeating.
  clock_.Advance(absl::Seconds(31));
  RIB_ASSERT_OK_AND_ASSIGN(n, repo_->ExpireLeases());
  EXPECT_GE(n, 1);
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l1.job_id));
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempt, 1);
  EXPECT_THAT(job.error, HasSubstr("lease of attempt 1 expired"));
  EXPECT_TRUE(job.worker_id.empty());
  // The old lease is revoked at the worker's next heartbeat.
  RIB_ASSERT_OK_AND_ASSIGN(hb, repo_->Heartbeat(kWorkerUser, w, {{l1.job_id, l1.attempt}}, 4));
  ASSERT_THAT(hb.revoked, SizeIs(1));
  EXPECT_EQ(hb.revoked[0].job_id, l1.job_id);

  // Losing contact is not the job's failure: the first kFreeLostContacts expiries give
  // the job its attempt back (max_attempts = 2 here), later ones count.
  for (int attempt = 2; attempt <= scheduling::kFreeLostContacts + 1; ++attempt) {
    domain::Lease l = AcquireKey(w, r.sweep_id, "m/lp/fmnist-v2");
    EXPECT_EQ(l.attempt, attempt);
    clock_.Advance(absl::Seconds(31));
    RIB_ASSERT_OK_AND_ASSIGN(n, repo_->ExpireLeases());
    RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l1.job_id));
    ASSERT_EQ(job.state, JobState::kQueued) << "attempt " << attempt;
    EXPECT_EQ(job.max_attempts, std::min(attempt, scheduling::kFreeLostContacts) + 2);
  }
  // The 6th lost contact counted (2 + 5 = 7 attempts allowed); the 7th fails the job.
  domain::Lease last = AcquireKey(w, r.sweep_id, "m/lp/fmnist-v2");
  EXPECT_EQ(last.attempt, scheduling::kFreeLostContacts + 2);
  clock_.Advance(absl::Seconds(31));
  RIB_ASSERT_OK_AND_ASSIGN(n, repo_->ExpireLeases());
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l1.job_id));
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_THAT(job.error, HasSubstr(absl::StrCat("lease of attempt ", last.attempt,
                                                " expired")));
  // lpft depended on lp: it fails too, naming the dependency.
  auto jobs = JobsByKey(r.sweep_id);
  EXPECT_EQ(jobs.at("m/lpft/fmnist-v2").state, JobState::kFailed);
  EXPECT_THAT(jobs.at("m/lpft/fmnist-v2").error, HasSubstr("dependency m/lp/fmnist-v2"));
  // Expiring again changes nothing.
  RIB_ASSERT_OK_AND_ASSIGN(n, repo_->ExpireLeases());
  EXPECT_EQ(n, 0);
}

TEST_P(RepositoryContractTest, DependentsWaitForTheirDependencies) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  const std::string lpft_id = JobsByKey(r.sweep_id).at("m/lpft/fmnist-v2").id;
  // lpft is never handed out while lp is not done.
  for (int i = 0; i < 3; ++i) {
    RIB_ASSERT_OK_AND_ASSIGN(auto l, repo_->AcquireJob(kWorkerUser, w, 8, "cpu"));
    ASSERT_TRUE(l.has_value());
    EXPECT_NE(l->job_id, lpft_id);
    if (JobsByKey(r.sweep_id).at("m/lp/fmnist-v2").id == l->job_id) {
      JobReport started;
      started.job_id = l->job_id;
      started.attempt = l->attempt;
      started.lease_secret = l->secret;
      started.reporter = kWorkerUser;
      started.kind = JobReport::Kind::kStarted;
      ASSERT_THAT(repo_->Report(started), IsOk());
      EXPECT_EQ(JobsByKey(r.sweep_id).at("m/lp/fmnist-v2").state, JobState::kRunning);
      ASSERT_THAT(Finish(*l, true), IsOk());
    }
  }
  RIB_ASSERT_OK_AND_ASSIGN(Job lpft, repo_->GetJob(lpft_id));
  EXPECT_EQ(lpft.state, JobState::kQueued);
  RIB_ASSERT_OK_AND_ASSIGN(auto l, repo_->AcquireJob(kWorkerUser, w, 8, "cpu"));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->job_id, lpft_id);
}

TEST_P(RepositoryContractTest, RetryableFailuresRequeueOthersFail) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/ft/fmnist-v2");
  JobReport ckpt;
  ckpt.job_id = l.job_id;
  ckpt.attempt = l.attempt;
  ckpt.lease_secret = l.secret;
  ckpt.reporter = kWorkerUser;
  ckpt.kind = JobReport::Kind::kCheckpoint;
  ckpt.checkpoint = "ckpt/epoch1.safetensors";
  ASSERT_THAT(repo_->Report(ckpt), IsOk());
  ASSERT_THAT(
      Finish(l, false, absl::StatusCode::kUnavailable, "rank 1 exited with status 9"),
      IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.error, "rank 1 exited with status 9");
  domain::Lease again = AcquireKey(w, r.sweep_id, "m/ft/fmnist-v2");
  EXPECT_EQ(again.attempt, 2);
  EXPECT_EQ(again.resume_checkpoint, "ckpt/epoch1.safetensors");
  ASSERT_THAT(
      Finish(again, false, absl::StatusCode::kInvalidArgument, "NaN loss at step 17"),
      IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error, "NaN loss at step 17");
}

TEST_P(RepositoryContractTest, CancelRevokesAndRetryRequeues) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  RIB_ASSERT_OK_AND_ASSIGN(Sweep cancelled, repo_->CancelSweep(r.sweep_id, "alice"));
  EXPECT_EQ(cancelled.state, SweepState::kCancelled);
  EXPECT_EQ(cancelled.counts, (std::map<JobState, int>{{JobState::kCancelled, 4}}));
  RIB_ASSERT_OK_AND_ASSIGN(HeartbeatResult hb,
                           repo_->Heartbeat(kWorkerUser, w, {{l.job_id, l.attempt}}, 4));
  ASSERT_THAT(hb.revoked, SizeIs(1));
  EXPECT_EQ(hb.revoked[0].attempt, l.attempt);
  EXPECT_THAT(ReportResult(l, "fmnist-val", 1, 2),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  RIB_ASSERT_OK_AND_ASSIGN(auto none, repo_->AcquireJob(kWorkerUser, w, 8, "cpu"));
  EXPECT_FALSE(none.has_value());

  RIB_ASSERT_OK_AND_ASSIGN(Sweep retried, repo_->RetrySweep(r.sweep_id, "alice"));
  EXPECT_EQ(retried.state, SweepState::kActive);
  EXPECT_EQ(retried.counts,
            (std::map<JobState, int>{{JobState::kQueued, 3}, {JobState::kPending, 1}}));
  RIB_ASSERT_OK_AND_ASSIGN(Job pre, repo_->GetJob(l.job_id));
  EXPECT_EQ(pre.attempt, 1);
  EXPECT_EQ(pre.max_attempts, 3);  // fresh budget: attempt + sweep max_attempts
}

TEST_P(RepositoryContractTest, SucceededHashesAreReusedUnlessForced) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult first, repo_->SubmitSweep(SmallSweep("one")));
  const std::string w = RegisterWorker();
  for (const char* key : {"m/pre", "m/ft/fmnist-v2", "m/lp/fmnist-v2"}) {
    domain::Lease l = AcquireKey(w, first.sweep_id, key);
    ASSERT_THAT(ReportResult(l, "fmnist-val", 42, 50), IsOk());
    ASSERT_THAT(Finish(l, true), IsOk());
  }
  domain::Lease lpft = AcquireKey(w, first.sweep_id, "m/lpft/fmnist-v2");
  ASSERT_THAT(Finish(lpft, true), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(Sweep done, repo_->GetSweep(first.sweep_id));
  EXPECT_EQ(done.state, SweepState::kSucceeded);

  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult second, repo_->SubmitSweep(SmallSweep("two")));
  EXPECT_FALSE(second.existing);
  EXPECT_EQ(second.jobs_reused, 4);
  EXPECT_EQ(second.jobs_new, 0);
  RIB_ASSERT_OK_AND_ASSIGN(Sweep s2, repo_->GetSweep(second.sweep_id));
  EXPECT_EQ(s2.state, SweepState::kSucceeded);
  auto jobs = JobsByKey(second.sweep_id);
  const Job& pre = jobs.at("m/pre");
  EXPECT_EQ(pre.state, JobState::kSucceeded);
  EXPECT_EQ(pre.reused_from, JobsByKey(first.sweep_id).at("m/pre").id);
  EXPECT_DOUBLE_EQ(pre.progress, 1.0);
  RIB_ASSERT_OK_AND_ASSIGN(Job pre_full, repo_->GetJob(pre.id));
  ASSERT_THAT(pre_full.results, SizeIs(3));  // by dataset: fmnist-c, -v2 (Finish), -val
  EXPECT_EQ(pre_full.results[2].dataset, "fmnist-val");
  EXPECT_EQ(pre_full.results[2].correct, 42);
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<MatrixJob> matrix,
                           repo_->GetMatrixJobs(second.sweep_id));
  ASSERT_THAT(matrix, SizeIs(4));
  EXPECT_EQ(matrix[0].method_kind, "pre");
  ASSERT_THAT(matrix[0].results, SizeIs(3));
  EXPECT_EQ(matrix[0].results[2].total, 50);
  EXPECT_EQ(matrix[3].results.size(), 3u);  // lpft: only Finish's 1/2 results
  EXPECT_EQ(matrix[3].results[0].total, 2);

  NewSweep forced = SmallSweep("three");
  forced.force = true;
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult third, repo_->SubmitSweep(forced));
  EXPECT_EQ(third.jobs_reused, 0);
  EXPECT_EQ(third.jobs_new, 4);
}

// An otdd job's result is a distance, stored one per job (migration 0011): a later
// report replaces the earlier, a sweep that reuses the job reads its row, and a job
// that reported none has no entry.
TEST_P(RepositoryContractTest, DatasetDistancesAreStoredPerJobAndReused) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult first, repo_->SubmitSweep(SmallSweep("d1")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, first.sweep_id, "m/ft/fmnist-v2");
  JobReport d = LeaseReport(l, JobReport::Kind::kDistance);
  d.distance = {"fmnist-val", "fmnist-v2", 12.5, 1000, 800, 0.1, false};
  ASSERT_THAT(repo_->Report(d), IsOk());
  d.distance.distance = 11.25;
  d.distance.converged = true;
  ASSERT_THAT(repo_->Report(d), IsOk());
  ASSERT_THAT(Finish(l, true), IsOk());

  RIB_ASSERT_OK_AND_ASSIGN(auto stored, repo_->ListDatasetDistances(first.sweep_id));
  ASSERT_THAT(stored, SizeIs(1));
  const DatasetDistanceRow& row = stored.at(l.job_id);
  EXPECT_EQ(row.source_dataset, "fmnist-val");
  EXPECT_EQ(row.target_dataset, "fmnist-v2");
  EXPECT_DOUBLE_EQ(row.distance, 11.25);
  EXPECT_EQ(row.source_examples, 1000);
  EXPECT_EQ(row.target_examples, 800);
  EXPECT_DOUBLE_EQ(row.epsilon, 0.1);
  EXPECT_TRUE(row.converged);

  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult second, repo_->SubmitSweep(SmallSweep("d2")));
  const std::string reused = JobsByKey(second.sweep_id).at("m/ft/fmnist-v2").id;
  ASSERT_NE(reused, l.job_id);
  RIB_ASSERT_OK_AND_ASSIGN(auto again, repo_->ListDatasetDistances(second.sweep_id));
  ASSERT_THAT(again, SizeIs(1));
  EXPECT_DOUBLE_EQ(again.at(reused).distance, 11.25);
  EXPECT_THAT(repo_->ListDatasetDistances("no-such"),
              StatusIs(absl::StatusCode::kNotFound));
}

// A sweep with seeds runs a job per seed; the matrix tells them apart by the seed in
// each job's spec (training.seed).
TEST_P(RepositoryContractTest, MatrixJobsCarryTheirTrainingSeed) {
  NewSweep sweep = SmallSweep("seeds");
  JobSpec seeded = Spec("m", "ft", "fmnist-v2");
  seeded.training.seed = 3;
  sweep.jobs.push_back(MakeJob("m/ft/fmnist-v2@seed=3", seeded, "a"));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(sweep));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<MatrixJob> jobs, repo_->GetMatrixJobs(r.sweep_id));
  ASSERT_THAT(jobs, SizeIs(5));
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(jobs[i].seed, 0) << jobs[i].job_id;
  EXPECT_EQ(jobs[4].method, "ft");
  EXPECT_EQ(jobs[4].seed, 3);
}

TEST_P(RepositoryContractTest, EventsRecordEveryChangeAndEndWithTheSweepState) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const uint64_t before = changes_->Counter(Topic::kEvents);
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  JobReport progress;
  progress.job_id = l.job_id;
  progress.attempt = l.attempt;
  progress.lease_secret = l.secret;
  progress.reporter = kWorkerUser;
  progress.kind = JobReport::Kind::kProgress;
  progress.progress = {1, 2, 50, 100, 0.75, 0.001};
  ASSERT_THAT(repo_->Report(progress), IsOk());
  ASSERT_THAT(ReportResult(l, "fmnist-val", 3, 4), IsOk());
  EXPECT_GT(changes_->WaitForChange(Topic::kEvents, before, absl::Seconds(5)), before);
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  EXPECT_DOUBLE_EQ(job.progress, 0.5);
  ASSERT_THAT(repo_->CancelSweep(r.sweep_id, "alice"), IsOk());

  RIB_ASSERT_OK_AND_ASSIGN(std::vector<SweepEvent> events,
                           repo_->ListEvents(r.sweep_id, 0, 1000));
  // 4 created + leased + progress + result + 4 cancelled + sweep state.
  ASSERT_THAT(events, SizeIs(12));
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].id, events[i - 1].id);
  EXPECT_EQ(events[0].kind, SweepEvent::Kind::kState);
  EXPECT_EQ(events[0].job_label, "m/pre");
  EXPECT_EQ(events[0].job_state, JobState::kQueued);
  EXPECT_EQ(events[4].job_state, JobState::kLeased);
  EXPECT_EQ(events[5].kind, SweepEvent::Kind::kProgress);
  EXPECT_EQ(events[5].progress.step, 50);
  EXPECT_DOUBLE_EQ(events[5].progress.loss, 0.75);
  EXPECT_EQ(events[6].kind, SweepEvent::Kind::kResult);
  EXPECT_EQ(events[6].result.correct, 3);
  EXPECT_EQ(events[6].result.dataset, "fmnist-val");
  EXPECT_EQ(events[11].kind, SweepEvent::Kind::kSweepState);
  EXPECT_EQ(events[11].sweep_state, SweepState::kCancelled);
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<SweepEvent> tail,
                           repo_->ListEvents(r.sweep_id, events[9].id, 1000));
  EXPECT_THAT(tail, SizeIs(2));
  RIB_ASSERT_OK_AND_ASSIGN(int64_t last, repo_->LastEventId(r.sweep_id));
  EXPECT_EQ(last, events[11].id);
  EXPECT_THAT(repo_->LastEventId("no-such"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RepositoryContractTest, PruningDropsOldProgressOfFinishedJobsOnly) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease done = AcquireKey(w, r.sweep_id, "m/pre");
  domain::Lease running = AcquireKey(w, r.sweep_id, "m/ft/fmnist-v2");
  auto progress = [&](const domain::Lease& l, int64_t step) {
    JobReport p;
    p.job_id = l.job_id;
    p.attempt = l.attempt;
    p.lease_secret = l.secret;
    p.reporter = kWorkerUser;
    p.kind = JobReport::Kind::kProgress;
    p.progress = {1, 1, step, 100, 0.5, 0.01};
    return repo_->Report(p);
  };
  ASSERT_THAT(progress(done, 10), IsOk());
  ASSERT_THAT(progress(done, 20), IsOk());
  ASSERT_THAT(progress(running, 10), IsOk());
  ASSERT_THAT(ReportResult(done, "fmnist-val", 3, 4), IsOk());
  ASSERT_THAT(Finish(done, true), IsOk());
  clock_.Advance(absl::Hours(2));
  ASSERT_THAT(progress(running, 20), IsOk());  // recent
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<SweepEvent> before,
                           repo_->ListEvents(r.sweep_id, 0, 1000));

  // Older than an hour and of a finished job: only `done`'s two progress events.
  RIB_ASSERT_OK_AND_ASSIGN(int64_t pruned,
                           repo_->PruneProgressEvents(clock_.Now() - absl::Hours(1)));
  EXPECT_EQ(pruned, 2);
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<SweepEvent> after,
                           repo_->ListEvents(r.sweep_id, 0, 1000));
  EXPECT_EQ(after.size(), before.size() - 2);
  int running_progress = 0, done_state = 0, done_result = 0;
  for (const SweepEvent& e : after) {
    if (e.kind == SweepEvent::Kind::kProgress) {
      EXPECT_EQ(e.job_id, running.job_id);  // the running job keeps even its old ones
      ++running_progress;
    }
    if (e.job_id == done.job_id && e.kind == SweepEvent::Kind::kState) ++done_state;
    if (e.job_id == done.job_id && e.kind == SweepEvent::Kind::kResult) ++done_result;
  }
  EXPECT_EQ(running_progress, 2);
  EXPECT_EQ(done_state, 3);  // queued, leased, succeeded
  EXPECT_EQ(done_result, 3);  // one per eval dataset: a success needs them all
  RIB_ASSERT_OK_AND_ASSIGN(int64_t again,
                           repo_->PruneProgressEvents(clock_.Now() - absl::Hours(1)));
  EXPECT_EQ(again, 0);
  // Ids keep growing past the deleted ones, so watchers never see an id twice.
  ASSERT_THAT(progress(running, 30), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(int64_t last, repo_->LastEventId(r.sweep_id));
  EXPECT_GT(last, before.back().id);
}

TEST_P(RepositoryContractTest, DrainingWorkersGetNothingAndAreTold) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  RIB_ASSERT_OK_AND_ASSIGN(Worker drained, repo_->DrainWorker(w));
  EXPECT_EQ(drained.state, domain::WorkerState::kDraining);
  RIB_ASSERT_OK_AND_ASSIGN(auto none, repo_->AcquireJob(kWorkerUser, w, 8, "cpu"));
  EXPECT_FALSE(none.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(HeartbeatResult hb, repo_->Heartbeat(kWorkerUser, w, {}, 4));
  EXPECT_TRUE(hb.drain);
}

TEST_P(RepositoryContractTest, OnlyTransientFailuresAndReleasesAreRetried) {
  // Each failure on a fresh sweep's m/pre (max_attempts = 2, so a retry is possible).
  struct Case {
    absl::StatusCode code;
    bool released;
    JobState expected;
  };
  const Case cases[] = {
      {absl::StatusCode::kUnavailable, false, JobState::kQueued},
      {absl::StatusCode::kDeadlineExceeded, false, JobState::kQueued},
      {absl::StatusCode::kResourceExhausted, false, JobState::kQueued},
      {absl::StatusCode::kInternal, true, JobState::kQueued},  // a release
      {absl::StatusCode::kInternal, false, JobState::kFailed},
      {absl::StatusCode::kUnknown, false, JobState::kFailed},
      {absl::StatusCode::kInvalidArgument, false, JobState::kFailed},
      {absl::StatusCode::kFailedPrecondition, false, JobState::kFailed},
  };
  const std::string w = RegisterWorker();
  int n = 0;
  for (const Case& c : cases) {
    const std::string salt = "c" + std::to_string(n++);
    RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep(salt, salt)));
    domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
    ASSERT_EQ(l.attempt, 1);
    const std::string error = "shape mismatch [3] vs [4] (" + salt + ")";
    ASSERT_THAT(Finish(l, false, c.code, error, c.released), IsOk());
    RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
    EXPECT_EQ(job.state, c.expected)
        << absl::StatusCodeToString(c.code) << " released=" << c.released;
    EXPECT_EQ(job.error, error);  // the worker's message, once
    EXPECT_EQ(job.attempt, 1);
    if (c.expected == JobState::kQueued) {
      // The retry is attempt 2; failing transiently again exhausts max_attempts. A
      // release does not count: the job runs again whatever its attempt number.
      domain::Lease again = AcquireKey(w, r.sweep_id, "m/pre");
      EXPECT_EQ(again.attempt, 2);
      ASSERT_THAT(Finish(again, false, c.code, error, c.released), IsOk());
      RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l.job_id));
      EXPECT_EQ(job.state, c.released ? JobState::kQueued : JobState::kFailed);
      if (c.released) EXPECT_EQ(job.max_attempts, 4);  // 2, plus one per release
    } else {
      // A deterministic failure is not handed out again.
      JobFilter queued;
      queued.sweep_id = r.sweep_id;
      queued.state = JobState::kQueued;
      RIB_ASSERT_OK_AND_ASSIGN(JobList list, repo_->ListJobs(queued));
      for (const Job& j : list.jobs) EXPECT_NE(j.id, l.job_id);
    }
    ASSERT_THAT(repo_->CancelSweep(r.sweep_id, "alice"), IsOk());  // free the other leases' sweep
  }
}

TEST_P(RepositoryContractTest, DeviceKindDecidesWhichWorkerGetsAJob) {
  NewSweep s = SmallSweep("");
  s.jobs.resize(2);  // m/pre and m/ft: no dependencies
  s.jobs[0].device_kind = "cuda";
  s.jobs[1].device_kind = "";  // any kind
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(s));
  const auto jobs = JobsByKey(r.sweep_id);
  const std::string cuda_job = jobs.at("m/pre").id;
  const std::string any_job = jobs.at("m/ft/fmnist-v2").id;

  // A CPU-only worker never gets the cuda job, however it asks.
  const std::string cpu_only = RegisterWorker(kAllDatasets, 4, {{"cpu", 4, 0}});
  for (const char* kind : {"cpu", "", "cuda"}) {
    RIB_ASSERT_OK_AND_ASSIGN(auto l, repo_->AcquireJob(kWorkerUser, cpu_only, 8, kind));
    if (l.has_value()) {
      EXPECT_EQ(l->job_id, any_job) << kind;
      ASSERT_THAT(Finish(*l, false, absl::StatusCode::kUnavailable, "", true), IsOk());
    }
  }
  RIB_ASSERT_OK_AND_ASSIGN(Job cuda, repo_->GetJob(cuda_job));
  EXPECT_EQ(cuda.state, JobState::kQueued);
  EXPECT_EQ(cuda.attempt, 0);

  // A worker with cpu and cuda devices advertises both.
  const std::string both =
      RegisterWorker(kAllDatasets, 0, {{"cpu", 16, 0}, {"cuda", 2, int64_t{80} << 30}});
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<Worker> workers, repo_->ListWorkers());
  ASSERT_THAT(workers, SizeIs(2));
  const Worker& w = workers[1];
  EXPECT_EQ(w.id, both);
  ASSERT_THAT(w.devices, SizeIs(2));
  EXPECT_EQ(w.devices[0].kind, "cpu");
  EXPECT_EQ(w.devices[0].count, 16);
  EXPECT_EQ(w.devices[1].kind, "cuda");
  EXPECT_EQ(w.devices[1].count, 2);
  EXPECT_EQ(w.devices[1].memory_bytes, int64_t{80} << 30);
  EXPECT_EQ(workers[0].devices.size(), 1u);
  // Asking for its CPU slots, it does not get the cuda job; for its GPUs, it does.
  RIB_ASSERT_OK_AND_ASSIGN(auto on_cpu, repo_->AcquireJob(kWorkerUser, both, 8, "cpu"));
  if (on_cpu.has_value()) EXPECT_NE(on_cpu->job_id, cuda_job);
  RIB_ASSERT_OK_AND_ASSIGN(auto on_gpu, repo_->AcquireJob(kWorkerUser, both, 2, "cuda"));
  ASSERT_TRUE(on_gpu.has_value());
  EXPECT_EQ(on_gpu->job_id, cuda_job);
  RIB_ASSERT_OK_AND_ASSIGN(cuda, repo_->GetJob(cuda_job));
  EXPECT_EQ(cuda.worker_id, both);
}

// ---- identity (issue 13) ----

TEST_P(RepositoryContractTest, TokensAreFoundByHashUntilRevoked) {
  RIB_ASSERT_OK_AND_ASSIGN(domain::TokenInfo made,
                           repo_->CreateToken("hash-1", "alice", domain::Role::kUser,
                                              "root"));
  EXPECT_EQ(made.user, "alice");
  EXPECT_EQ(made.created_by, "root");
  EXPECT_FALSE(made.revoked_at.has_value());
  EXPECT_THAT(repo_->CreateToken("hash-1", "bob", domain::Role::kAdmin, "root"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  RIB_ASSERT_OK_AND_ASSIGN(std::optional<domain::Principal> who,
                           repo_->FindToken("hash-1"));
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->user, "alice");
  EXPECT_EQ(who->role, domain::Role::kUser);
  EXPECT_EQ(who->token_id, made.id);
  RIB_ASSERT_OK_AND_ASSIGN(std::optional<domain::Principal> nobody,
                           repo_->FindToken("hash-2"));
  EXPECT_FALSE(nobody.has_value());

  RIB_ASSERT_OK_AND_ASSIGN(domain::TokenInfo revoked, repo_->RevokeToken(made.id, "root"));
  EXPECT_TRUE(revoked.revoked_at.has_value());
  EXPECT_EQ(revoked.revoked_by, "root");
  RIB_ASSERT_OK_AND_ASSIGN(who, repo_->FindToken("hash-1"));
  EXPECT_FALSE(who.has_value());
  EXPECT_THAT(repo_->RevokeToken("no-such", "root"),
              StatusIs(absl::StatusCode::kNotFound));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::TokenInfo> live, repo_->ListTokens(false));
  EXPECT_THAT(live, SizeIs(0));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::TokenInfo> all, repo_->ListTokens(true));
  ASSERT_THAT(all, SizeIs(1));
  EXPECT_EQ(all[0].id, made.id);
}

TEST_P(RepositoryContractTest, AReportMustComeFromTheLeaseHolderWithItsSecret) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  EXPECT_EQ(l.secret.size(), 64u);
  const auto events_before = repo_->ListEvents(r.sweep_id, 0, 1000);
  ASSERT_THAT(events_before, IsOk());

  JobReport forged;
  forged.job_id = l.job_id;
  forged.attempt = l.attempt;
  forged.kind = JobReport::Kind::kResult;
  forged.result = {"fmnist-val", "", 10, 10, 0};
  // Another worker token, with the right secret.
  forged.reporter = "mallory-worker";
  forged.lease_secret = l.secret;
  EXPECT_THAT(repo_->Report(forged), StatusIs(absl::StatusCode::kPermissionDenied,
                                              HasSubstr("leased to another worker")));
  // The right worker token without the secret, or with another lease's.
  forged.reporter = kWorkerUser;
  forged.lease_secret = "";
  EXPECT_THAT(repo_->Report(forged), StatusIs(absl::StatusCode::kPermissionDenied,
                                              HasSubstr("lease secret")));
  domain::Lease other = AcquireKey(w, r.sweep_id, "m/ft/fmnist-v2");
  forged.lease_secret = other.secret;
  EXPECT_THAT(repo_->Report(forged), StatusIs(absl::StatusCode::kPermissionDenied));
  // A forged checkpoint and a forged finish are refused the same way.
  JobReport ckpt = forged;
  ckpt.kind = JobReport::Kind::kCheckpoint;
  ckpt.checkpoint = "checkpoints/evil.ckpt";
  EXPECT_THAT(repo_->Report(ckpt), StatusIs(absl::StatusCode::kPermissionDenied));
  JobReport done = forged;
  done.kind = JobReport::Kind::kFinished;
  done.ok = true;
  EXPECT_THAT(repo_->Report(done), StatusIs(absl::StatusCode::kPermissionDenied));

  // Nothing of it was written.
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kLeased);
  EXPECT_TRUE(job.results.empty());
  EXPECT_EQ(job.last_checkpoint, "");
  RIB_ASSERT_OK_AND_ASSIGN(auto events_after, repo_->ListEvents(r.sweep_id, 0, 1000));
  // The second hand-out (ft) wrote its own state event; the forgeries wrote none.
  EXPECT_EQ(events_after.size(), events_before->size() + 1);

  // The holder with its secret is accepted, and its events name it as their actor.
  ASSERT_THAT(ReportResult(l, "fmnist-val", 7, 10), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(events_after, repo_->ListEvents(r.sweep_id, 0, 1000));
  ASSERT_FALSE(events_after.empty());
  EXPECT_EQ(events_after.back().kind, domain::SweepEvent::Kind::kResult);
  EXPECT_EQ(events_after.back().actor, kWorkerUser);
}

TEST_P(RepositoryContractTest, OnlyTheRegisteringTokenUserActsForAWorker) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  EXPECT_THAT(repo_->AcquireJob("mallory-worker", w, 8, "cpu"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(w)));
  EXPECT_THAT(repo_->Heartbeat("mallory-worker", w, {}, 4),
              StatusIs(absl::StatusCode::kPermissionDenied));
  RIB_ASSERT_OK_AND_ASSIGN(Sweep s, repo_->GetSweep(r.sweep_id));
  EXPECT_EQ(s.counts, (std::map<JobState, int>{{JobState::kQueued, 3},
                                                {JobState::kPending, 1}}));

  // The same name and token user again is the same worker (its row, its id).
  WorkerRegistration again;
  again.name = "node1";
  again.principal = kWorkerUser;
  again.devices = {{"cpu", 2, 0}};
  again.datasets = kAllDatasets;
  RIB_ASSERT_OK_AND_ASSIGN(Worker back, repo_->RegisterWorker(again));
  EXPECT_EQ(back.id, w);
  EXPECT_EQ(back.devices[0].count, 2);
  // The same name under another token user is another worker.
  again.principal = "other-worker";
  RIB_ASSERT_OK_AND_ASSIGN(Worker other, repo_->RegisterWorker(again));
  EXPECT_NE(other.id, w);
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<Worker> workers, repo_->ListWorkers());
  EXPECT_THAT(workers, SizeIs(2));
}

TEST_P(RepositoryContractTest, AUserAtTheirQuotaGetsNoMoreDevicesOthersStillDo) {
  NewSweep alice = SmallSweep("", "a");
  NewSweep bob = SmallSweep("", "b");
  bob.owner = "bob";
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult ra, repo_->SubmitSweep(alice));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult rb, repo_->SubmitSweep(bob));
  RIB_ASSERT_OK_AND_ASSIGN(domain::Quota q, repo_->SetQuota("alice", 1));
  EXPECT_EQ(q.devices, std::optional<int>(1));
  const std::string w = RegisterWorker();
  std::map<std::string, int> leased;  // owner → jobs handed out
  for (int i = 0; i < 6; ++i) {
    RIB_ASSERT_OK_AND_ASSIGN(auto lease, repo_->AcquireJob(kWorkerUser, w, 8, "cpu"));
    if (!lease.has_value()) break;
    RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(lease->job_id));
    ++leased[job.sweep_id == ra.sweep_id ? "alice" : "bob"];
  }
  EXPECT_EQ(leased["alice"], 1);  // her quota: 1 device, each job needs 1
  EXPECT_EQ(leased["bob"], 3);    // his 3 queued jobs (lpft waits for lp)
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Quota> quotas, repo_->ListQuotas());
  ASSERT_THAT(quotas, SizeIs(2));
  EXPECT_EQ(quotas[0].user, "alice");
  EXPECT_EQ(quotas[0].devices_in_use, 1);
  EXPECT_EQ(quotas[1].user, "bob");
  EXPECT_FALSE(quotas[1].devices.has_value());
  EXPECT_EQ(quotas[1].devices_in_use, 3);
  // Unlimited again: her next job is handed out.
  RIB_ASSERT_OK_AND_ASSIGN(q, repo_->SetQuota("alice", std::nullopt));
  EXPECT_FALSE(q.devices.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(auto more, repo_->AcquireJob(kWorkerUser, w, 8, "cpu"));
  ASSERT_TRUE(more.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(more->job_id));
  EXPECT_EQ(job.sweep_id, ra.sweep_id);
  (void)rb;
}

TEST_P(RepositoryContractTest, CancelRecordsWhoAndPriorityChangesUnfinishedJobs) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  RIB_ASSERT_OK_AND_ASSIGN(Sweep s, repo_->SetSweepPriority(r.sweep_id, 7));
  EXPECT_EQ(s.priority, 7);
  for (const auto& [key, job] : JobsByKey(r.sweep_id)) {
    EXPECT_EQ(job.priority, 7) << key;
  }
  RIB_ASSERT_OK_AND_ASSIGN(s, repo_->CancelSweep(r.sweep_id, "root"));
  EXPECT_EQ(s.cancelled_by, "root");
  RIB_ASSERT_OK_AND_ASSIGN(auto events, repo_->ListEvents(r.sweep_id, 0, 1000));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, domain::SweepEvent::Kind::kSweepState);
  EXPECT_EQ(events.back().actor, "root");
  EXPECT_EQ(events.front().actor, "alice");  // the submission's events: the owner
  RIB_ASSERT_OK_AND_ASSIGN(s, repo_->RetrySweep(r.sweep_id, "alice"));
  EXPECT_EQ(s.cancelled_by, "");
  EXPECT_THAT(repo_->SetSweepPriority("no-such", 1), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RepositoryContractTest, ASuccessWithoutEveryResultIsAFailureNotACachedResult) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  ASSERT_THAT(ReportResult(l, "fmnist-val", 8, 10), IsOk());
  JobReport done = LeaseReport(l, JobReport::Kind::kFinished);
  done.ok = true;
  ASSERT_THAT(repo_->Report(done), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error,
            "the worker reported success without results for fmnist-c, fmnist-v2");
  // A later sweep with the same job does not reuse it.
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult again, repo_->SubmitSweep(SmallSweep("second")));
  EXPECT_EQ(again.jobs_reused, 0);
}

// An otdd job evaluates no dataset: what its success needs is its distance. Without
// one it is the attempt's failure, as a success without results is; with one it
// succeeds.
TEST_P(RepositoryContractTest, AnOtddSuccessWithoutItsDistanceIsAFailure) {
  auto sweep = [](const std::string& salt) {
    NewSweep s = SmallSweep(salt, salt);
    JobSpec otdd = Spec("m", "otdd", "fmnist-v2");
    otdd.eval_datasets.clear();
    s.methods.push_back("otdd");
    s.jobs.push_back(MakeJob("m/otdd/fmnist-v2", otdd, salt));
    return s;
  };
  const std::string w = RegisterWorker();
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult first, repo_->SubmitSweep(sweep("one")));
  domain::Lease l = AcquireKey(w, first.sweep_id, "m/otdd/fmnist-v2");
  JobReport done = LeaseReport(l, JobReport::Kind::kFinished);
  done.ok = true;
  ASSERT_THAT(repo_->Report(done), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error,
            "the worker reported success without the dataset distance its method measures");

  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult second, repo_->SubmitSweep(sweep("two")));
  l = AcquireKey(w, second.sweep_id, "m/otdd/fmnist-v2");
  JobReport d = LeaseReport(l, JobReport::Kind::kDistance);
  d.distance = {"fmnist-val", "fmnist-v2", 3.5, 100, 80, 0.1, true};
  ASSERT_THAT(repo_->Report(d), IsOk());
  done = LeaseReport(l, JobReport::Kind::kFinished);
  done.ok = true;
  ASSERT_THAT(repo_->Report(done), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kSucceeded) << job.error;
}

// A worker that registers again has restarted: the leases it held are requeued at
// once (a lost contact, free), without waiting for them to expire.
TEST_P(RepositoryContractTest, AWorkerThatRegistersAgainLosesItsLeasesAtOnce) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  WorkerRegistration reg;
  reg.name = "restarting";
  reg.principal = kWorkerUser;
  reg.devices = {{"cpu", 4, 0}};
  reg.datasets = kAllDatasets;
  RIB_ASSERT_OK_AND_ASSIGN(Worker w, repo_->RegisterWorker(reg));
  const std::string other = RegisterWorker();
  RIB_ASSERT_OK_AND_ASSIGN(auto mine, repo_->AcquireJob(kWorkerUser, w.id, 1, "cpu"));
  RIB_ASSERT_OK_AND_ASSIGN(auto theirs, repo_->AcquireJob(kWorkerUser, other, 1, "cpu"));
  ASSERT_TRUE(mine.has_value() && theirs.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(Worker again, repo_->RegisterWorker(reg));
  EXPECT_EQ(again.id, w.id);
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(mine->job_id));
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_TRUE(job.worker_id.empty());
  EXPECT_EQ(job.max_attempts, 3);  // 2, and the lost contact's attempt back
  EXPECT_THAT(job.error, HasSubstr(absl::StrCat("worker ", w.id,
                                                " restarted while it ran attempt 1")));
  // Another worker's lease is untouched, and the old attempt is fenced.
  RIB_ASSERT_OK_AND_ASSIGN(Job kept, repo_->GetJob(theirs->job_id));
  EXPECT_EQ(kept.state, JobState::kLeased);
  EXPECT_THAT(ReportResult(*mine, "fmnist-val", 1, 2),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// A lease the worker does not list when it asks for the next one never reached it:
// requeued without using up an attempt. Listed ones, and other workers', are kept.
TEST_P(RepositoryContractTest, ALeaseTheWorkerNeverReceivedIsRequeuedWithoutCost) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  const std::string other = RegisterWorker();
  RIB_ASSERT_OK_AND_ASSIGN(auto got, repo_->AcquireJob(kWorkerUser, w, 1, "cpu"));
  RIB_ASSERT_OK_AND_ASSIGN(auto lost, repo_->AcquireJob(kWorkerUser, w, 1, "cpu"));
  RIB_ASSERT_OK_AND_ASSIGN(auto theirs, repo_->AcquireJob(kWorkerUser, other, 1, "cpu"));
  ASSERT_TRUE(got.has_value() && lost.has_value() && theirs.has_value());
  const domain::LeaseRef held{got->job_id, got->attempt};
  // Only the worker's own token user may say what it holds.
  EXPECT_THAT(repo_->ReleaseOrphanedLeases("someone-else", w, {}),
              StatusIs(absl::StatusCode::kPermissionDenied));
  RIB_ASSERT_OK_AND_ASSIGN(Job still, repo_->GetJob(lost->job_id));
  EXPECT_EQ(still.state, JobState::kLeased);

  RIB_ASSERT_OK_AND_ASSIGN(int n, repo_->ReleaseOrphanedLeases(kWorkerUser, w, {held}));
  EXPECT_EQ(n, 1);
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(lost->job_id));
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_TRUE(job.worker_id.empty());
  EXPECT_EQ(job.max_attempts, 3);  // 2, and the orphaned attempt back
  EXPECT_THAT(job.error, HasSubstr(absl::StrCat("attempt ", lost->attempt,
                                                " was handed out but worker ", w,
                                                " never received it")));
  RIB_ASSERT_OK_AND_ASSIGN(Job kept, repo_->GetJob(got->job_id));
  EXPECT_EQ(kept.state, JobState::kLeased);
  RIB_ASSERT_OK_AND_ASSIGN(Job kept_other, repo_->GetJob(theirs->job_id));
  EXPECT_EQ(kept_other.state, JobState::kLeased);
  // Listing the job under another attempt does not keep the current one.
  RIB_ASSERT_OK_AND_ASSIGN(auto next, repo_->AcquireJob(kWorkerUser, w, 1, "cpu"));
  ASSERT_TRUE(next.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(
      n, repo_->ReleaseOrphanedLeases(kWorkerUser, w,
                                      {held, {next->job_id, next->attempt + 1}}));
  EXPECT_EQ(n, 1);
  RIB_ASSERT_OK_AND_ASSIGN(n, repo_->ReleaseOrphanedLeases(kWorkerUser, w, {held}));
  EXPECT_EQ(n, 0);
}

TEST_P(RepositoryContractTest, AfterAGapInExpiryPassesLeasesGetAGraceNotAnExpiry) {
  RepositoryOptions options;
  options.clock = &clock_;
  options.lease_timeout = absl::Seconds(30);
  options.expiry_grace_after = absl::Seconds(5);
  repo_ = GetParam().make(options);
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/pre");
  // Passes every second: nothing is due yet.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Seconds(1));
    RIB_ASSERT_OK_AND_ASSIGN(int n, repo_->ExpireLeases());
    EXPECT_EQ(n, 0);
  }
  // The control plane is down for 60 s: no pass runs, the worker cannot heartbeat.
  clock_.Advance(absl::Seconds(60));
  RIB_ASSERT_OK_AND_ASSIGN(int first, repo_->ExpireLeases());
  EXPECT_EQ(first, 0);  // a grace, not a mass expiry
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kLeased);
  EXPECT_EQ(job.attempt, 1);
  // The worker is back and renews within the grace: its job is still its own.
  clock_.Advance(absl::Seconds(1));
  ASSERT_THAT(repo_->ExpireLeases(), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(HeartbeatResult hb,
                           repo_->Heartbeat(kWorkerUser, w, {{l.job_id, l.attempt}}, 3));
  EXPECT_TRUE(hb.revoked.empty());
  // A worker that never comes back loses the lease a lease timeout after the grace.
  int expired = 0;
  for (int i = 0; i < 31 && expired == 0; ++i) {
    clock_.Advance(absl::Seconds(1));
    RIB_ASSERT_OK_AND_ASSIGN(int n, repo_->ExpireLeases());
    expired += n;
  }
  EXPECT_EQ(expired, 1);
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.state, JobState::kQueued);
}

TEST_P(RepositoryContractTest, AReSentEventIsWrittenOnceAndAnOldCheckpointNeverReturns) {
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(SmallSweep("")));
  const std::string w = RegisterWorker();
  domain::Lease l = AcquireKey(w, r.sweep_id, "m/ft/fmnist-v2");
  auto event = [&](int64_t seq, JobReport::Kind kind) { return LeaseReport(l, kind, seq); };
  JobReport ckpt1 = event(1, JobReport::Kind::kCheckpoint);
  ckpt1.checkpoint = "checkpoints/h/epoch-1.ckpt";
  JobReport ckpt2 = event(2, JobReport::Kind::kCheckpoint);
  ckpt2.checkpoint = "checkpoints/h/epoch-2.ckpt";
  JobReport result = event(3, JobReport::Kind::kResult);
  result.result = {"fmnist-val", "", 7, 10, 0};
  for (const JobReport& e : {ckpt1, ckpt2, result}) ASSERT_THAT(repo_->Report(e), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(auto events_before, repo_->ListEvents(r.sweep_id, 0, 1000));
  // The stream broke and the worker sends everything again: accepted, written never.
  JobReport changed = result;
  changed.result.correct = 1;  // even a re-send that differs is a re-send
  for (const JobReport& e : {ckpt1, ckpt2, changed}) ASSERT_THAT(repo_->Report(e), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(Job job, repo_->GetJob(l.job_id));
  EXPECT_EQ(job.last_checkpoint, "checkpoints/h/epoch-2.ckpt");  // not back to epoch 1
  ASSERT_THAT(job.results, SizeIs(1));
  EXPECT_EQ(job.results[0].correct, 7);
  RIB_ASSERT_OK_AND_ASSIGN(auto events_after, repo_->ListEvents(r.sweep_id, 0, 1000));
  EXPECT_EQ(events_after.size(), events_before.size());
  // The next event is written; an unsequenced one (seq 0) always is.
  JobReport next = event(4, JobReport::Kind::kResult);
  next.result = {"fmnist-v2", "", 3, 10, 0};
  ASSERT_THAT(repo_->Report(next), IsOk());
  JobReport unsequenced = event(0, JobReport::Kind::kResult);
  unsequenced.result = {"fmnist-c", "", 5, 10, 0};
  ASSERT_THAT(repo_->Report(unsequenced), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(job, repo_->GetJob(l.job_id));
  EXPECT_THAT(job.results, SizeIs(3));
}

// Issue 15.2: ewc reads its Fisher dataset (the suite's pre-training validation set by
// default) besides its fine-tune and eval datasets, so only a worker that has it may
// run the job, even when the sweep does not evaluate on it.
TEST_P(RepositoryContractTest, AnEwcJobGoesOnlyToAWorkerWithItsFisherDataset) {
  NewSweep s = SmallSweep("");
  s.jobs.clear();
  JobSpec ewc = Spec("m", "ewc", "fmnist-v2");
  ewc.eval_datasets = {"fmnist-v2", "fmnist-c"};
  s.eval_datasets = ewc.eval_datasets;
  s.methods = {"ewc"};
  s.jobs.push_back(MakeJob("m/ewc/fmnist-v2", ewc, "e"));
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo_->SubmitSweep(s));
  const std::string without = RegisterWorker({"fmnist-v2", "fmnist-c"});
  RIB_ASSERT_OK_AND_ASSIGN(auto none, repo_->AcquireJob(kWorkerUser, without, 4, "cpu"));
  EXPECT_FALSE(none.has_value());
  const std::string with = RegisterWorker({"fmnist-val", "fmnist-v2", "fmnist-c"});
  RIB_ASSERT_OK_AND_ASSIGN(auto lease, repo_->AcquireJob(kWorkerUser, with, 4, "cpu"));
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->job_id, JobsByKey(r.sweep_id).at("m/ewc/fmnist-v2").id);
}

}  // namespace rib::storage::contract

#endif  // RIB_TESTS_SERVER_STORAGE_REPOSITORY_CONTRACT_H_
