// rib-test-labels: e2e
// End to end: real PostgreSQL, rib-coordinator and rib-worker processes (with their
// rank processes) on a tiny FMNIST-RIB sweep. Skipped (exit 77) without
// RIB_TEST_PG_ADMIN_URL.
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_env.h"

namespace rib::e2e {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::testing::HasSubstr;

// One model, ft on two datasets (+ the pre job): 3 jobs, 3 evaluation datasets each.
std::string SweepYaml(int max_steps, int epochs, int devices = 1) {
  return absl::StrCat(R"(name: e2e
suite: fmnist-rib
max_attempts: 3
devices: )", devices, R"(
models:
  - name: tiny
    arch: fmnist_vit
    weights: models/tiny.safetensors
methods: [ft]
finetune_datasets: [fmnist-v2, fmnist-r]
eval_datasets: [fmnist-val, fmnist-v2, fmnist-r]
training:
  lr: 0.01
  batch_size: 32
  warmup_steps: 2
  epochs: )", epochs, R"(
  max_steps: )", max_steps, R"(
  seed: 0
)");
}

// A sweep whose one ft job trains for minutes: for cancel and drain.
std::string LongSweepYaml() {
  return R"(name: e2e-long
suite: fmnist-rib
models:
  - name: tiny
    arch: fmnist_vit
    weights: models/tiny.safetensors
methods: [ft]
finetune_datasets: [fmnist-v2]
eval_datasets: [fmnist-val]
training: {batch_size: 8, warmup_steps: 2, epochs: 200, seed: 0}
)";
}

class WorkerE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SkipUnlessPostgres();
    data_ = new ScratchDir();
    const absl::Time start = absl::Now();
    absl::Status s = PrepareDataAndModel(data_->Join("data"), data_->Join("tiny.safetensors"));
    ASSERT_THAT(s, IsOk());
    std::fprintf(stderr, "FMNIST-RIB and weights ready in %s\n",
                 absl::FormatDuration(absl::Now() - start).c_str());
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  // A fresh database, artifact root (with the model) and coordinator for one run.
  struct Run {
    std::unique_ptr<TestDatabase> db;
    std::unique_ptr<ScratchDir> dir;
    CoordinatorProcess coordinator;
    std::unique_ptr<Client> client;
    std::string artifacts() const { return dir->Join("artifacts"); }
    std::string Log(const std::string& name) const { return dir->Join(name + ".log"); }
  };

  static void StartRun(Run* run, const std::vector<std::string>& coordinator_flags = {},
                       const tls::ClientTlsOptions& client_tls = {}) {
    auto db = TestDatabase::Create();
    ASSERT_THAT(db.status(), IsOk());
    run->db = *std::move(db);
    run->dir = std::make_unique<ScratchDir>();
    fs::create_directories(run->artifacts() + "/models");
    fs::copy_file(data_->Join("tiny.safetensors"),
                  run->artifacts() + "/models/tiny.safetensors");
    auto c = StartCoordinator(run->db->url(), run->artifacts(), run->Log("coordinator"),
                              coordinator_flags);
    ASSERT_THAT(c.status(), IsOk());
    run->coordinator = *std::move(c);
    run->client = std::make_unique<Client>(run->coordinator.address,
                                           run->coordinator.user_token, client_tls);
  }

  static std::unique_ptr<Child> Worker(const Run& run, const std::string& name,
                                       const std::string& devices = "cpu:1",
                                       const std::vector<std::string>& flags = {}) {
    std::vector<std::string> with_token = flags;
    with_token.push_back("--token-file=" + run.coordinator.worker_token_file);
    auto w = StartWorker(run.coordinator.address, name, data_->Join("data"),
                         run.artifacts(), run.Log(name), devices, with_token);
    EXPECT_THAT(w.status(), IsOk());
    return w.ok() ? *std::move(w) : nullptr;
  }

  static std::string Logs(const Run& run, const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
      std::ifstream f(run.Log(n));
      std::stringstream ss;
      ss << f.rdbuf();
      std::string all = ss.str();
      if (all.size() > 6000) all = "..." + all.substr(all.size() - 6000);
      absl::StrAppend(&out, "==== ", n, " ====\n", all, "\n");
    }
    return out;
  }

  // Polls ListJobs until `pred` holds for some job; returns it.
  template <typename Pred>
  static std::optional<v1::Job> WaitForJob(Client& client, const std::string& sweep,
                                           Pred pred, absl::Duration timeout) {
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      auto jobs = client.Jobs(sweep);
      if (jobs.ok()) {
        for (const v1::Job& j : *jobs) {
          if (pred(j)) return j;
        }
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return std::nullopt;
  }

  // Polls until no rank process of `run` is alive; false (naming them) on timeout.
  static bool RanksGoneWithin(const Run& run, absl::Duration timeout) {
    const absl::Time until = absl::Now() + timeout;
    std::set<pid_t> left;
    do {
      left = FindProcesses({"--job-file", run.artifacts()});
      if (left.empty()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < until);
    for (pid_t p : left) {
      std::ifstream stat(absl::StrCat("/proc/", p, "/stat"));
      std::string line;
      std::getline(stat, line);
      std::fprintf(stderr, "rank process still alive: %s\n", line.c_str());
    }
    return false;
  }

  // Jobs with their results (ListJobs leaves results out; GetJob has them).
  static std::vector<v1::Job> JobsWithResults(Client& client, const std::string& sweep) {
    std::vector<v1::Job> out;
    auto jobs = client.Jobs(sweep);
    EXPECT_THAT(jobs.status(), IsOk());
    if (!jobs.ok()) return out;
    for (const v1::Job& j : *jobs) {
      auto full = client.GetJob(j.id());
      EXPECT_THAT(full.status(), IsOk());
      if (full.ok()) out.push_back(*full);
    }
    return out;
  }

  static ScratchDir* data_;
};

ScratchDir* WorkerE2eTest::data_ = nullptr;

// The undisturbed single-rank matrix, once SweepSurvivesAKilledWorker... has run (tests
// of this binary run in declaration order); empty when that test was filtered out.
std::map<std::string, std::string>* g_single_rank_matrix =
    new std::map<std::string, std::string>();

// Every job of a finished sweep has exactly one whole-dataset result per eval dataset.
void ExpectOneResultPerJobAndDataset(const std::vector<v1::Job>& jobs) {
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.ShortDebugString();
    std::map<std::string, int> count;
    for (const v1::Accuracy& a : job.results()) {
      if (a.subset().empty()) ++count[a.dataset()];
      EXPECT_GT(a.total(), 0);
    }
    EXPECT_EQ(count.size(), 3u) << job.ShortDebugString();
    for (const auto& [dataset, n] : count) {
      EXPECT_EQ(n, 1) << job.id() << " " << dataset;
    }
  }
}

TEST_F(WorkerE2eTest, SweepSurvivesAKilledWorkerWithTheSameMatrix) {
  const std::string yaml = SweepYaml(/*max_steps=*/20, /*epochs=*/1);

  // 1. Undisturbed: two workers share the sweep.
  Run clean;
  ASSERT_NO_FATAL_FAILURE(StartRun(&clean));
  std::unique_ptr<Child> w1 = Worker(clean, "w1");
  std::unique_ptr<Child> w2 = Worker(clean, "w2");
  auto sweep = clean.client->Submit(yaml);
  ASSERT_THAT(sweep.status(), IsOk());
  const absl::Time start = absl::Now();
  auto state = clean.client->WaitForSweep(*sweep, absl::Minutes(3));
  ASSERT_THAT(state.status(), IsOk()) << Logs(clean, {"coordinator", "w1", "w2"});
  ASSERT_EQ(*state, v1::SWEEP_STATE_SUCCEEDED) << Logs(clean, {"coordinator", "w1", "w2"});
  std::fprintf(stderr, "undisturbed sweep done in %s\n",
               absl::FormatDuration(absl::Now() - start).c_str());
  const std::vector<v1::Job> jobs = JobsWithResults(*clean.client, *sweep);
  ASSERT_EQ(jobs.size(), 3u);
  ExpectOneResultPerJobAndDataset(jobs);
  // Final weights are stored under the job's hash, where dependent jobs look for them.
  for (const v1::Job& j : jobs) {
    if (j.spec().method().kind() == "pre") continue;
    EXPECT_TRUE(fs::exists(clean.artifacts() + "/weights/" + j.hash() + ".safetensors"))
        << j.hash();
  }
  auto matrix = clean.client->Matrix(*sweep);
  ASSERT_THAT(matrix.status(), IsOk());
  const std::map<std::string, std::string> expected = MatrixCells(*matrix);
  EXPECT_EQ(expected.size(), 9u);  // baseline + 2 rows, 3 columns
  *g_single_rank_matrix = expected;
  for (const auto& [cell, value] : expected) {
    std::fprintf(stderr, "  undisturbed %-40s %s\n", cell.c_str(), value.c_str());
  }
  w1.reset();
  w2.reset();

  // 2. Worker A is killed with SIGKILL while it runs an ft job; B finishes the sweep.
  Run faulty;
  ASSERT_NO_FATAL_FAILURE(StartRun(&faulty));
  std::unique_ptr<Child> a = Worker(faulty, "a");
  auto sweep2 = faulty.client->Submit(yaml);
  ASSERT_THAT(sweep2.status(), IsOk());
  std::optional<v1::Job> victim = WaitForJob(
      *faulty.client, *sweep2,
      [](const v1::Job& j) {
        return j.state() == v1::JOB_STATE_RUNNING && j.spec().method().kind() == "ft";
      },
      absl::Minutes(2));
  ASSERT_TRUE(victim.has_value()) << Logs(faulty, {"coordinator", "a"});
  const std::set<pid_t> a_ranks = FindProcesses({"--job-file", faulty.artifacts()});
  a->Signal(SIGKILL);
  ASSERT_TRUE(a->Wait(absl::Seconds(5)).has_value());
  std::fprintf(stderr, "killed worker a (and %zu rank process(es)) while it ran job %s\n",
               a_ranks.size(), victim->id().c_str());
  // Its ranks die with it (PR_SET_PDEATHSIG): nothing keeps computing for a dead lease.
  EXPECT_TRUE(RanksGoneWithin(faulty, absl::Seconds(5)));

  std::unique_ptr<Child> b = Worker(faulty, "b");
  auto state2 = faulty.client->WaitForSweep(*sweep2, absl::Minutes(3));
  ASSERT_THAT(state2.status(), IsOk()) << Logs(faulty, {"coordinator", "a", "b"});
  ASSERT_EQ(*state2, v1::SWEEP_STATE_SUCCEEDED) << Logs(faulty, {"coordinator", "a", "b"});
  const std::vector<v1::Job> jobs2 = JobsWithResults(*faulty.client, *sweep2);
  ASSERT_EQ(jobs2.size(), 3u);
  ExpectOneResultPerJobAndDataset(jobs2);
  const v1::Job* requeued = nullptr;
  for (const v1::Job& j : jobs2) {
    if (j.id() == victim->id()) requeued = &j;
  }
  ASSERT_NE(requeued, nullptr);
  EXPECT_GE(requeued->attempt(), victim->attempt() + 1) << requeued->ShortDebugString();
  std::fprintf(stderr, "job %s: attempt %d ran on the killed worker, attempt %d finished\n",
               victim->id().c_str(), victim->attempt(), requeued->attempt());
  auto matrix2 = faulty.client->Matrix(*sweep2);
  ASSERT_THAT(matrix2.status(), IsOk());
  EXPECT_EQ(MatrixCells(*matrix2), expected);
  for (const auto& [cell, value] : MatrixCells(*matrix2)) {
    std::fprintf(stderr, "  after kill  %-40s %s\n", cell.c_str(), value.c_str());
  }

  // 3. A late report from the killed attempt is rejected and changes nothing.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + faulty.coordinator.worker_token);
    v1::ReportResultsResponse resp;
    auto writer = faulty.client->worker_api().ReportResults(&ctx, &resp);
    v1::JobEvent event;
    event.set_job_id(victim->id());
    event.set_attempt(victim->attempt());
    v1::Accuracy* acc = event.mutable_result();
    acc->set_dataset("fmnist-val");
    acc->set_correct(1);
    acc->set_total(1);
    writer->Write(event);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  }
  auto matrix3 = faulty.client->Matrix(*sweep2);
  ASSERT_THAT(matrix3.status(), IsOk());
  EXPECT_EQ(MatrixCells(*matrix3), expected);
}

// A 2-device job runs as two Gloo rank processes on a cpu:2 worker; rank 0 reports.
TEST_F(WorkerE2eTest, TwoDeviceJobsRunAsTwoGlooRanks) {
  Run run;
  ASSERT_NO_FATAL_FAILURE(StartRun(&run));
  std::unique_ptr<Child> w = Worker(run, "w", "cpu:2");
  auto sweep = run.client->Submit(SweepYaml(/*max_steps=*/20, /*epochs=*/1, /*devices=*/2));
  ASSERT_THAT(sweep.status(), IsOk());
  std::optional<v1::Job> running = WaitForJob(
      *run.client, *sweep,
      [](const v1::Job& j) { return j.state() == v1::JOB_STATE_RUNNING; },
      absl::Minutes(2));
  ASSERT_TRUE(running.has_value()) << Logs(run, {"coordinator", "w"});
  const size_t ranks = FindProcesses({"--job-file", run.artifacts()}).size();
  auto state = run.client->WaitForSweep(*sweep, absl::Minutes(3));
  ASSERT_THAT(state.status(), IsOk()) << Logs(run, {"coordinator", "w"});
  ASSERT_EQ(*state, v1::SWEEP_STATE_SUCCEEDED) << Logs(run, {"coordinator", "w"});
  EXPECT_EQ(ranks, 2u);
  const std::vector<v1::Job> jobs = JobsWithResults(*run.client, *sweep);
  ASSERT_EQ(jobs.size(), 3u);
  ExpectOneResultPerJobAndDataset(jobs);
  auto matrix = run.client->Matrix(*sweep);
  ASSERT_THAT(matrix.status(), IsOk());
  const std::map<std::string, std::string> cells = MatrixCells(*matrix);
  EXPECT_EQ(cells.size(), 9u);
  for (const auto& [cell, value] : cells) {
    std::fprintf(stderr, "  2 ranks     %-40s %s\n", cell.c_str(), value.c_str());
  }
  // Same global batch, so the same weights up to float rounding: every accuracy is the
  // single-rank one within 2 images (measured: identical).
  if (!g_single_rank_matrix->empty()) {
    ASSERT_EQ(cells.size(), g_single_rank_matrix->size());
    for (const auto& [cell, value] : cells) {
      const std::string& single = g_single_rank_matrix->at(cell);
      const int a = std::stoi(value.substr(0, value.find('/')));
      const int b = std::stoi(single.substr(0, single.find('/')));
      EXPECT_LE(std::abs(a - b), 2) << cell << ": 2 ranks " << value << ", 1 rank " << single;
      EXPECT_EQ(value.substr(value.find('/')), single.substr(single.find('/'))) << cell;
    }
  }
}

TEST_F(WorkerE2eTest, CancelStopsRunningRanksWithinOneHeartbeat) {
  Run run;
  ASSERT_NO_FATAL_FAILURE(StartRun(&run));
  std::unique_ptr<Child> w = Worker(run, "w");
  auto sweep = run.client->Submit(LongSweepYaml());
  ASSERT_THAT(sweep.status(), IsOk());
  std::optional<v1::Job> running = WaitForJob(
      *run.client, *sweep,
      [](const v1::Job& j) {
        return j.state() == v1::JOB_STATE_RUNNING && j.spec().method().kind() == "ft";
      },
      absl::Minutes(2));
  ASSERT_TRUE(running.has_value()) << Logs(run, {"coordinator", "w"});
  ASSERT_FALSE(FindProcesses({"--job-file", run.artifacts()}).empty());

  const absl::Time cancelled = absl::Now();
  ASSERT_THAT(run.client->Cancel(*sweep), IsOk());
  absl::Duration stopped_after = absl::InfiniteDuration();
  while (absl::Now() - cancelled < absl::Seconds(10)) {
    if (FindProcesses({"--job-file", run.artifacts()}).empty()) {
      stopped_after = absl::Now() - cancelled;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::fprintf(stderr, "ranks gone %s after CancelSweep (heartbeat %s)\n",
               absl::FormatDuration(stopped_after).c_str(),
               absl::FormatDuration(kHeartbeatInterval).c_str());
  // One heartbeat to learn of it, plus the SIGTERM to the ranks and scheduling slack.
  EXPECT_LT(stopped_after, kHeartbeatInterval + absl::Seconds(2))
      << Logs(run, {"coordinator", "w"});
  auto jobs = run.client->Jobs(*sweep);
  ASSERT_THAT(jobs.status(), IsOk());
  for (const v1::Job& j : *jobs) {
    if (j.id() == running->id()) EXPECT_EQ(j.state(), v1::JOB_STATE_CANCELLED);
  }
  EXPECT_TRUE(w->running());  // the worker itself carries on
}

TEST_F(WorkerE2eTest, SigtermDrainsTheWorkerAndReleasesItsLease) {
  Run run;
  ASSERT_NO_FATAL_FAILURE(StartRun(&run));
  std::unique_ptr<Child> w = Worker(run, "w");
  auto sweep = run.client->Submit(LongSweepYaml());
  ASSERT_THAT(sweep.status(), IsOk());
  std::optional<v1::Job> running = WaitForJob(
      *run.client, *sweep,
      [](const v1::Job& j) {
        return j.state() == v1::JOB_STATE_RUNNING && j.spec().method().kind() == "ft";
      },
      absl::Minutes(2));
  ASSERT_TRUE(running.has_value()) << Logs(run, {"coordinator", "w"});

  const absl::Time term = absl::Now();
  w->Signal(SIGTERM);
  std::optional<int> code = w->Wait(absl::Seconds(40));
  ASSERT_TRUE(code.has_value()) << Logs(run, {"coordinator", "w"});
  EXPECT_EQ(*code, 0) << Logs(run, {"w"});
  std::fprintf(stderr, "worker drained and exited %s after SIGTERM\n",
               absl::FormatDuration(absl::Now() - term).c_str());
  EXPECT_TRUE(RanksGoneWithin(run, absl::Seconds(5)));
  // The ranks checkpointed at the step boundary where they stopped, so the next attempt
  // resumes there.
  std::vector<std::string> checkpoints;
  for (const auto& e : fs::recursive_directory_iterator(run.artifacts() + "/checkpoints")) {
    const std::string name = e.path().filename().string();
    if (absl::StartsWith(name, "step-")) checkpoints.push_back(e.path().string());
  }
  EXPECT_FALSE(checkpoints.empty()) << Logs(run, {"w"});
  // The lease was released at once (no lease timeout to wait for): the job is queued
  // for another worker, with the drain as its last error.
  auto jobs = run.client->Jobs(*sweep);
  ASSERT_THAT(jobs.status(), IsOk());
  for (const v1::Job& j : *jobs) {
    if (j.id() != running->id()) continue;
    EXPECT_EQ(j.state(), v1::JOB_STATE_QUEUED) << j.ShortDebugString();
    EXPECT_THAT(j.error(), HasSubstr("worker drained"));
  }
}

// The short sweep over TLS with client certificates: the coordinator serves TLS and
// requires certificates its CA signed, two workers connect with --tls-ca, --tls-cert
// and --tls-key, the client trusts the CA; a plaintext client is refused.
TEST_F(WorkerE2eTest, SweepRunsOverTlsWithClientCertificates) {
  ScratchDir certs_dir;
  const ::rib::testing::TestCertificates certs =
      ::rib::testing::MakeTestCertificatesOrSkip(certs_dir.path());
  tls::ClientTlsOptions client_tls;
  client_tls.ca_file = certs.ca_cert;
  client_tls.cert_file = certs.client_cert;
  client_tls.key_file = certs.client_key;
  Run run;
  ASSERT_NO_FATAL_FAILURE(
      StartRun(&run,
               {"--tls-cert=" + certs.server_cert, "--tls-key=" + certs.server_key,
                "--tls-client-ca=" + certs.ca_cert},
               client_tls));
  const std::vector<std::string> worker_tls = {"--tls-ca=" + certs.ca_cert,
                                               "--tls-cert=" + certs.client_cert,
                                               "--tls-key=" + certs.client_key};
  std::unique_ptr<Child> a = Worker(run, "a", "cpu:1", worker_tls);
  std::unique_ptr<Child> b = Worker(run, "b", "cpu:1", worker_tls);
  auto sweep = run.client->Submit(SweepYaml(/*max_steps=*/20, /*epochs=*/1));
  ASSERT_THAT(sweep.status(), IsOk()) << Logs(run, {"coordinator"});
  auto state = run.client->WaitForSweep(*sweep, absl::Minutes(4));
  ASSERT_THAT(state.status(), IsOk()) << Logs(run, {"coordinator", "a", "b"});
  ASSERT_EQ(*state, v1::SWEEP_STATE_SUCCEEDED) << Logs(run, {"coordinator", "a", "b"});
  const std::vector<v1::Job> jobs = JobsWithResults(*run.client, *sweep);
  ASSERT_EQ(jobs.size(), 3u);
  ExpectOneResultPerJobAndDataset(jobs);
  EXPECT_THAT(run.coordinator.child->ReadLog(),
              HasSubstr("(client certificates required)"));

  Client plaintext(run.coordinator.address, run.coordinator.user_token);
  EXPECT_EQ(plaintext.GetSweep(*sweep).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace rib::e2e
