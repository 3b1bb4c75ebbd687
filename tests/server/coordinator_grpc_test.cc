// rib-test-labels: postgres
// A real gRPC server on port 0 over a real PostgreSQL: the client API end to end, the
// worker API (lease, fenced stream of results), and WatchSweep across two coordinators.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/sweep_fixtures.h"
#include "tests/server/testing/test_coordinator.h"
#include "tests/server/testing/tokens.h"
#include "tests/server/testing/worker_calls.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("grpc"));

using ::rib::testing::AuthContext;
using ::rib::testing::kGridSweepYaml;
using ::rib::testing::kSmallSweepYaml;
using ::rib::testing::TestCoordinator;

class CoordinatorGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::rib::testing::TruncateAllTables();
    ::rib::testing::WriteSweepModelFiles(root_.path());
    coord_ = std::make_unique<TestCoordinator>(root_.path());
    tokens_ = ::rib::testing::MakeTestTokens(::rib::testing::PgTestUri());
  }

  grpc::Status Submit(const std::string& yaml, const std::string& request_id,
                      v1::SubmitSweepResponse* resp, TestCoordinator* c = nullptr) {
    AuthContext ctx(tokens_.alice);
    v1::SubmitSweepRequest req;
    req.set_sweep_yaml(yaml);
    req.set_client_request_id(request_id);
    req.set_source_name("test.yaml");
    return (c ? c : coord_.get())->client->SubmitSweep(&ctx, req, resp);
  }

  std::vector<v1::Job> AllJobs(const std::string& sweep_id, int page_size) {
    std::vector<v1::Job> out;
    v1::ListJobsRequest req;
    req.set_sweep_id(sweep_id);
    req.set_page_size(page_size);
    for (;;) {
      AuthContext ctx(tokens_.alice);
      v1::ListJobsResponse resp;
      grpc::Status s = coord_->client->ListJobs(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      out.insert(out.end(), resp.jobs().begin(), resp.jobs().end());
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return out;
  }

  std::string RegisterWorker(TestCoordinator* c) {
    const v1::RegisterResponse resp =
        ::rib::testing::RegisterTestWorker(c->worker.get(), tokens_.worker);
    EXPECT_EQ(resp.lease_timeout_ms(), 30000);
    return resp.worker_id();
  }

  static v1::JobEvent Event(const v1::AcquireJobResponse& lease) {
    return ::rib::testing::LeaseEvent(lease);
  }
  static v1::JobEvent Result(const v1::AcquireJobResponse& lease,
                             const std::string& dataset, const std::string& subset,
                             int correct) {
    return ::rib::testing::ResultEvent(lease, dataset, subset, correct);
  }

  // Streams `events` over one ReportResults call.
  grpc::Status Stream(TestCoordinator* c, const std::vector<v1::JobEvent>& events,
                      int* accepted = nullptr) {
    AuthContext ctx(tokens_.worker);
    v1::ReportResultsResponse resp;
    auto writer = c->worker->ReportResults(&ctx, &resp);
    for (const auto& e : events) {
      if (!writer->Write(e)) break;
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (accepted != nullptr) *accepted = resp.events_accepted();
    return s;
  }

  // Runs every job of the small sweep through the worker API: pre gets
  // val 80, v2 70, c {60, 40}; ft gets val 75, v2 90, c {30, 50} (of 100 each).
  void RunSmallSweep(TestCoordinator* c) {
    const std::string worker_id = RegisterWorker(c);
    for (int i = 0; i < 2; ++i) {
      AuthContext ctx(tokens_.worker);
      v1::AcquireJobRequest req;
      req.set_worker_id(worker_id);
      req.set_free_devices(2);
      req.set_device_kind("cpu");
      req.set_wait_ms(2000);
      v1::AcquireJobResponse lease;
      ASSERT_TRUE(c->worker->AcquireJob(&ctx, req, &lease).ok());
      ASSERT_TRUE(lease.has_job());
      EXPECT_EQ(lease.attempt(), 1);
      const bool pre = lease.spec().method().kind() == "pre";
      std::vector<v1::JobEvent> events;
      v1::JobEvent started = Event(lease);
      started.set_started(true);
      events.push_back(started);
      v1::JobEvent progress = Event(lease);
      progress.mutable_progress()->set_step(5);
      progress.mutable_progress()->set_steps(10);
      events.push_back(progress);
      events.push_back(Result(lease, "fmnist-val", "", pre ? 80 : 75));
      events.push_back(Result(lease, "fmnist-v2", "", pre ? 70 : 90));
      events.push_back(Result(lease, "fmnist-c", "gaussian_noise/1", pre ? 60 : 30));
      events.push_back(Result(lease, "fmnist-c", "gaussian_noise/2", pre ? 40 : 50));
      v1::JobEvent finished = Event(lease);
      finished.mutable_finished()->set_ok(true);
      finished.mutable_finished()->set_weights("weights/" + lease.hash() +
                                               ".safetensors");
      events.push_back(finished);
      int accepted = 0;
      grpc::Status s = Stream(c, events, &accepted);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(accepted, 7);
      // A late report of the same (now finished) attempt is fenced off.
      s = Stream(c, {Result(lease, "fmnist-val", "", 1)});
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_THAT(s.error_message(), HasSubstr("SUCCEEDED"));
    }
  }

  ::rib::testing::ScratchDir root_;
  std::unique_ptr<TestCoordinator> coord_;
  ::rib::testing::TestTokens tokens_;
};

int CountIn(const v1::Sweep& s, v1::JobState state) {
  for (const auto& c : s.counts()) {
    if (c.state() == state) return c.count();
  }
  return 0;
}

TEST_F(CoordinatorGrpcTest, GridOfThreeModelsFourMethodsEightDatasets) {
  v1::SubmitSweepResponse resp;
  grpc::Status s = Submit(kGridSweepYaml, "grid-1", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // 3 pre jobs + 3 models × 4 methods × 8 fine-tune datasets.
  EXPECT_EQ(resp.jobs_total(), 99);
  EXPECT_EQ(resp.jobs_new(), 99);
  EXPECT_FALSE(resp.existing());

  const std::vector<v1::Job> jobs = AllJobs(resp.sweep_id(), 40);
  ASSERT_THAT(jobs, SizeIs(99));
  std::set<std::string> ids;
  std::map<std::string, int> per_method;
  std::map<std::string, std::string> id_of;  // model/method/dataset → id
  for (const v1::Job& j : jobs) {
    ids.insert(j.id());
    ++per_method[j.spec().method().kind()];
    id_of[absl::StrCat(j.spec().model().name(), "/", j.spec().method().name(), "/",
                       j.spec().finetune_dataset())] = j.id();
    EXPECT_EQ(j.owner(), "alice");
    EXPECT_EQ(j.spec().model().weights_digest().size(), 64u);
  }
  EXPECT_THAT(ids, SizeIs(99));
  EXPECT_EQ(per_method,
            (std::map<std::string, int>{
                {"pre", 3}, {"ft", 24}, {"lp", 24}, {"lpft", 24}, {"wise-ft", 24}}));
  for (const v1::Job& j : jobs) {
    const std::string kind = j.spec().method().kind();
    const std::string prefix = absl::StrCat(j.spec().model().name(), "/");
    if (kind == "lpft") {
      ASSERT_THAT(j.depends_on(), SizeIs(1));
      EXPECT_EQ(j.depends_on(0), id_of.at(prefix + "lp/" + j.spec().finetune_dataset()));
      EXPECT_EQ(j.state(), v1::JOB_STATE_PENDING);
    } else if (kind == "wise-ft") {
      ASSERT_THAT(j.depends_on(), SizeIs(1));
      EXPECT_EQ(j.depends_on(0), id_of.at(prefix + "ft/" + j.spec().finetune_dataset()));
      EXPECT_EQ(j.state(), v1::JOB_STATE_PENDING);
    } else {
      EXPECT_THAT(j.depends_on(), SizeIs(0));
      EXPECT_EQ(j.state(), v1::JOB_STATE_QUEUED);
    }
  }

  AuthContext ctx(tokens_.alice);
  v1::GetSweepRequest get;
  get.set_sweep_id(resp.sweep_id());
  v1::Sweep sweep;
  ASSERT_TRUE(coord_->client->GetSweep(&ctx, get, &sweep).ok());
  EXPECT_EQ(sweep.name(), "grid");
  EXPECT_EQ(sweep.state(), v1::SWEEP_STATE_ACTIVE);
  EXPECT_EQ(CountIn(sweep, v1::JOB_STATE_QUEUED), 51);
  EXPECT_EQ(CountIn(sweep, v1::JOB_STATE_PENDING), 48);
  EXPECT_THAT(sweep.finetune_datasets(), SizeIs(8));
  EXPECT_THAT(sweep.eval_datasets(), SizeIs(9));
  EXPECT_EQ(sweep.client_request_id(), "grid-1");

  // The same submission again creates nothing.
  v1::SubmitSweepResponse again;
  ASSERT_TRUE(Submit(kGridSweepYaml, "grid-1", &again).ok());
  EXPECT_TRUE(again.existing());
  EXPECT_EQ(again.sweep_id(), resp.sweep_id());
  EXPECT_EQ(again.jobs_total(), 99);
  AuthContext lctx(tokens_.alice);
  v1::ListJobsResponse all;
  ASSERT_TRUE(coord_->client->ListJobs(&lctx, v1::ListJobsRequest(), &all).ok());
  EXPECT_EQ(all.total(), 99);
  AuthContext sctx(tokens_.alice);
  v1::ListSweepsResponse sweeps;
  ASSERT_TRUE(coord_->client->ListSweeps(&sctx, v1::ListSweepsRequest(), &sweeps).ok());
  EXPECT_THAT(sweeps.sweeps(), SizeIs(1));

  // With no results, the matrix has its full shape and no cells.
  AuthContext mctx(tokens_.alice);
  v1::GetMatrixRequest mreq;
  mreq.set_sweep_id(resp.sweep_id());
  v1::GetMatrixResponse matrix;
  ASSERT_TRUE(coord_->client->GetMatrix(&mctx, mreq, &matrix).ok());
  ASSERT_THAT(matrix.matrices(), SizeIs(12));
  for (const v1::Matrix& m : matrix.matrices()) {
    EXPECT_THAT(m.eval_datasets(), SizeIs(9));
    EXPECT_EQ(m.pretrain_dataset(), "fmnist-val");
    EXPECT_THAT(m.baseline().cells(), SizeIs(9));
    ASSERT_THAT(m.rows(), SizeIs(8));
    for (const v1::MatrixRow& r : m.rows()) {
      EXPECT_THAT(r.cells(), SizeIs(9));
      for (const v1::Cell& c : r.cells()) EXPECT_FALSE(c.present());
      EXPECT_FALSE(r.has_ri());
    }
    EXPECT_FALSE(m.has_mri());
  }
  EXPECT_EQ(matrix.matrices(0).model(), "m1");
  EXPECT_EQ(matrix.matrices(0).method(), "ft");
  EXPECT_EQ(matrix.matrices(0).rows(0).finetune_dataset(), "fmnist-v2");

  // Cancel: every job CANCELLED, and the sweep too.
  AuthContext cctx(tokens_.alice);
  v1::CancelSweepRequest creq;
  creq.set_sweep_id(resp.sweep_id());
  v1::Sweep cancelled;
  ASSERT_TRUE(coord_->client->CancelSweep(&cctx, creq, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::SWEEP_STATE_CANCELLED);
  EXPECT_EQ(CountIn(cancelled, v1::JOB_STATE_CANCELLED), 99);
  // Retry brings them back.
  AuthContext rctx(tokens_.alice);
  v1::RetrySweepRequest rreq;
  rreq.set_sweep_id(resp.sweep_id());
  v1::Sweep retried;
  ASSERT_TRUE(coord_->client->RetrySweep(&rctx, rreq, &retried).ok());
  EXPECT_EQ(retried.state(), v1::SWEEP_STATE_ACTIVE);
  EXPECT_EQ(CountIn(retried, v1::JOB_STATE_QUEUED), 51);
}

TEST_F(CoordinatorGrpcTest, BadSweepsAreRejectedNamingTheProblem) {
  v1::SubmitSweepResponse resp;
  std::string typo = kGridSweepYaml;
  typo.replace(typo.find("lpft"), 4, "lpfft");
  grpc::Status s = Submit(typo, "typo", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("lpfft"));
  EXPECT_THAT(s.error_message(), HasSubstr("test.yaml"));

  std::string missing = kSmallSweepYaml;
  missing.replace(missing.find("models/m1"), 9, "models/zz");
  s = Submit(missing, "missing", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("model 'm1'"));
  EXPECT_THAT(s.error_message(), HasSubstr("models/zz.safetensors"));

  std::string escape = kSmallSweepYaml;
  escape.replace(escape.find("models/m1"), 9, "../../etc");
  s = Submit(escape, "escape", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  s = Submit("", "empty", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  AuthContext ctx(tokens_.alice);
  v1::ListSweepsResponse sweeps;
  ASSERT_TRUE(coord_->client->ListSweeps(&ctx, v1::ListSweepsRequest(), &sweeps).ok());
  EXPECT_THAT(sweeps.sweeps(), SizeIs(0));
}

TEST_F(CoordinatorGrpcTest, UnknownAndMissingIds) {
  AuthContext c1(tokens_.alice);
  v1::GetSweepRequest get;
  get.set_sweep_id("no-such-sweep");
  v1::Sweep sweep;
  EXPECT_EQ(coord_->client->GetSweep(&c1, get, &sweep).error_code(),
            grpc::StatusCode::NOT_FOUND);
  AuthContext c2(tokens_.alice);
  EXPECT_EQ(coord_->client->GetSweep(&c2, v1::GetSweepRequest(), &sweep).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  AuthContext c3(tokens_.alice);
  v1::GetJobRequest job;
  job.set_job_id("no-such-job");
  v1::Job j;
  EXPECT_EQ(coord_->client->GetJob(&c3, job, &j).error_code(),
            grpc::StatusCode::NOT_FOUND);
  AuthContext c4(tokens_.alice);
  v1::ListJobsRequest list;
  list.set_sweep_id("no-such-sweep");
  v1::ListJobsResponse jobs;
  EXPECT_EQ(coord_->client->ListJobs(&c4, list, &jobs).error_code(),
            grpc::StatusCode::NOT_FOUND);
  AuthContext c5(tokens_.worker);
  v1::HeartbeatRequest hb;
  hb.set_worker_id("no-such-worker");
  v1::HeartbeatResponse hbr;
  EXPECT_EQ(coord_->worker->Heartbeat(&c5, hb, &hbr).error_code(),
            grpc::StatusCode::NOT_FOUND);
  AuthContext c6(tokens_.alice);
  v1::GetMatrixRequest m;
  m.set_sweep_id("no-such-sweep");
  v1::GetMatrixResponse mr;
  EXPECT_EQ(coord_->client->GetMatrix(&c6, m, &mr).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoordinatorGrpcTest, WorkersRunASweepAndANewRequestIdReusesEveryJob) {
  v1::SubmitSweepResponse first;
  ASSERT_TRUE(Submit(kSmallSweepYaml, "small-1", &first).ok());
  EXPECT_EQ(first.jobs_total(), 2);
  RunSmallSweep(coord_.get());

  AuthContext ctx(tokens_.alice);
  v1::GetSweepRequest get;
  get.set_sweep_id(first.sweep_id());
  v1::Sweep sweep;
  ASSERT_TRUE(coord_->client->GetSweep(&ctx, get, &sweep).ok());
  EXPECT_EQ(sweep.state(), v1::SWEEP_STATE_SUCCEEDED);

  v1::SubmitSweepResponse second;
  ASSERT_TRUE(Submit(kSmallSweepYaml, "small-2", &second).ok());
  EXPECT_FALSE(second.existing());
  EXPECT_NE(second.sweep_id(), first.sweep_id());
  EXPECT_EQ(second.jobs_total(), 2);
  EXPECT_EQ(second.jobs_reused(), 2);
  EXPECT_EQ(second.jobs_new(), 0);

  for (const std::string& id : {first.sweep_id(), second.sweep_id()}) {
    AuthContext mctx(tokens_.alice);
    v1::GetMatrixRequest req;
    req.set_sweep_id(id);
    v1::GetMatrixResponse resp;
    ASSERT_TRUE(coord_->client->GetMatrix(&mctx, req, &resp).ok());
    ASSERT_THAT(resp.matrices(), SizeIs(1));
    const v1::Matrix& m = resp.matrices(0);
    ASSERT_THAT(m.baseline().cells(), SizeIs(3));
    EXPECT_DOUBLE_EQ(m.baseline().cells(0).accuracy(), 0.80);
    EXPECT_DOUBLE_EQ(m.baseline().cells(2).accuracy(), 0.50);  // mean of 0.6 and 0.4
    EXPECT_EQ(m.baseline().cells(2).total(), 200);
    ASSERT_THAT(m.rows(), SizeIs(1));
    EXPECT_DOUBLE_EQ(m.rows(0).cells(1).accuracy(), 0.90);
    EXPECT_DOUBLE_EQ(m.rows(0).cells(2).accuracy(), 0.40);
    ASSERT_TRUE(m.rows(0).has_ri());
    EXPECT_NEAR(m.rows(0).ri(), -0.10, 1e-12);  // only fmnist-c is downstream and ≠ i
    ASSERT_TRUE(m.rows(0).has_pretrain_change());
    EXPECT_NEAR(m.rows(0).pretrain_change(), -0.05, 1e-12);
    ASSERT_TRUE(m.has_mri());
    EXPECT_NEAR(m.mri(), -0.10, 1e-12);
  }
}

TEST_F(CoordinatorGrpcTest, AcquireLongPollsUntilAJobIsQueued) {
  const std::string worker_id = RegisterWorker(coord_.get());
  v1::AcquireJobRequest req;
  req.set_worker_id(worker_id);
  req.set_free_devices(2);
  req.set_wait_ms(300);
  {
    AuthContext ctx(tokens_.worker);
    v1::AcquireJobResponse lease;
    const absl::Time start = absl::Now();
    ASSERT_TRUE(coord_->worker->AcquireJob(&ctx, req, &lease).ok());
    EXPECT_FALSE(lease.has_job());
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  }
  // A job submitted through ANOTHER coordinator wakes the waiting poll.
  TestCoordinator other(root_.path());
  req.set_wait_ms(20000);
  std::thread submit([&] {
    absl::SleepFor(absl::Milliseconds(500));
    v1::SubmitSweepResponse resp;
    EXPECT_TRUE(Submit(kSmallSweepYaml, "", &resp, &other).ok());
  });
  AuthContext ctx(tokens_.worker);
  v1::AcquireJobResponse lease;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(coord_->worker->AcquireJob(&ctx, req, &lease).ok());
  submit.join();
  EXPECT_TRUE(lease.has_job());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(lease.attempt(), 1);
  EXPECT_FALSE(lease.spec().model().weights_digest().empty());
}

TEST_F(CoordinatorGrpcTest, WatchOnOneCoordinatorSeesEventsWrittenByAnother) {
  v1::SubmitSweepResponse resp;
  ASSERT_TRUE(Submit(kSmallSweepYaml, "watched", &resp).ok());
  TestCoordinator other(root_.path());
  std::vector<v1::SweepEvent> seen;
  grpc::Status watch_status;
  std::thread watcher([&] {
    AuthContext ctx(tokens_.alice);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WatchSweepRequest req;
    req.set_sweep_id(resp.sweep_id());
    req.set_include_snapshot(true);
    auto reader = other.client->WatchSweep(&ctx, req);
    v1::SweepEvent e;
    while (reader->Read(&e)) seen.push_back(e);
    watch_status = reader->Finish();
  });
  absl::SleepFor(absl::Milliseconds(500));
  RunSmallSweep(coord_.get());
  watcher.join();
  ASSERT_TRUE(watch_status.ok()) << watch_status.error_message();
  ASSERT_GE(seen.size(), 2u + 2 * 7);
  // The snapshot: both jobs QUEUED.
  EXPECT_EQ(seen[0].state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(seen[0].job_label(), "m1/pre");
  int results = 0, succeeded = 0, progress = 0;
  for (const auto& e : seen) {
    results += e.has_result() ? 1 : 0;
    progress += e.has_progress() ? 1 : 0;
    succeeded +=
        e.event_case() == v1::SweepEvent::kState && e.state() == v1::JOB_STATE_SUCCEEDED;
  }
  EXPECT_EQ(results, 8);
  EXPECT_EQ(progress, 2);
  std::string trace;
  for (const auto& e : seen) trace += e.ShortDebugString() + "\n";
  EXPECT_EQ(succeeded, 2) << trace;
  EXPECT_EQ(seen.back().event_case(), v1::SweepEvent::kSweepState);
  EXPECT_EQ(seen.back().sweep_state(), v1::SWEEP_STATE_SUCCEEDED);
}

TEST_F(CoordinatorGrpcTest, CancelRevokesLeasesAtTheNextHeartbeatAndDrainStopsLeasing) {
  v1::SubmitSweepResponse resp;
  ASSERT_TRUE(Submit(kSmallSweepYaml, "", &resp).ok());
  const std::string worker_id = RegisterWorker(coord_.get());
  AuthContext actx(tokens_.worker);
  v1::AcquireJobRequest areq;
  areq.set_worker_id(worker_id);
  areq.set_free_devices(2);
  v1::AcquireJobResponse lease;
  ASSERT_TRUE(coord_->worker->AcquireJob(&actx, areq, &lease).ok());
  ASSERT_TRUE(lease.has_job());

  v1::HeartbeatRequest hb;
  hb.set_worker_id(worker_id);
  hb.set_free_devices(1);
  v1::LeaseRef* ref = hb.add_leases();
  ref->set_job_id(lease.job_id());
  ref->set_attempt(lease.attempt());
  {
    AuthContext ctx(tokens_.worker);
    v1::HeartbeatResponse out;
    ASSERT_TRUE(coord_->worker->Heartbeat(&ctx, hb, &out).ok());
    EXPECT_EQ(out.revoked_size(), 0);
    EXPECT_FALSE(out.drain());
  }
  {
    AuthContext ctx(tokens_.alice);
    v1::CancelSweepRequest req;
    req.set_sweep_id(resp.sweep_id());
    v1::Sweep out;
    ASSERT_TRUE(coord_->client->CancelSweep(&ctx, req, &out).ok());
  }
  {
    AuthContext ctx(tokens_.worker);
    v1::HeartbeatResponse out;
    ASSERT_TRUE(coord_->worker->Heartbeat(&ctx, hb, &out).ok());
    ASSERT_EQ(out.revoked_size(), 1);
    EXPECT_EQ(out.revoked(0).job_id(), lease.job_id());
    EXPECT_EQ(out.revoked(0).attempt(), lease.attempt());
  }
  {
    AuthContext ctx(tokens_.root);
    v1::DrainWorkerRequest req;
    req.set_worker_id(worker_id);
    v1::Worker out;
    ASSERT_TRUE(coord_->client->DrainWorker(&ctx, req, &out).ok());
    EXPECT_EQ(out.state(), v1::WORKER_STATE_DRAINING);
  }
  {
    AuthContext ctx(tokens_.worker);
    v1::HeartbeatResponse out;
    ASSERT_TRUE(coord_->worker->Heartbeat(&ctx, hb, &out).ok());
    EXPECT_TRUE(out.drain());
  }
  {
    AuthContext ctx(tokens_.alice);
    v1::ListWorkersResponse out;
    ASSERT_TRUE(coord_->client->ListWorkers(&ctx, v1::ListWorkersRequest(), &out).ok());
    ASSERT_EQ(out.workers_size(), 1);
    EXPECT_EQ(out.workers(0).id(), worker_id);
    EXPECT_EQ(out.workers(0).state(), v1::WORKER_STATE_DRAINING);
    EXPECT_EQ(out.workers(0).free_devices(), 1);
    EXPECT_EQ(out.workers(0).devices(0).count(), 2);
  }
  // A draining worker is handed nothing, even after a retry queues the jobs again.
  {
    AuthContext ctx(tokens_.alice);
    v1::RetrySweepRequest req;
    req.set_sweep_id(resp.sweep_id());
    v1::Sweep out;
    ASSERT_TRUE(coord_->client->RetrySweep(&ctx, req, &out).ok());
  }
  AuthContext ctx(tokens_.worker);
  v1::AcquireJobResponse none;
  ASSERT_TRUE(coord_->worker->AcquireJob(&ctx, areq, &none).ok());
  EXPECT_FALSE(none.has_job());
}

TEST_F(CoordinatorGrpcTest, ADeterministicFailureFailsOnceATransientOneIsRetried) {
  v1::SubmitSweepResponse resp;
  ASSERT_TRUE(Submit(kSmallSweepYaml, "", &resp).ok());  // max_attempts: 3 (the default)
  const std::string worker_id = RegisterWorker(coord_.get());
  auto acquire = [&] {
    AuthContext ctx(tokens_.worker);
    v1::AcquireJobRequest req;
    req.set_worker_id(worker_id);
    req.set_free_devices(2);
    req.set_device_kind("cpu");
    v1::AcquireJobResponse lease;
    EXPECT_TRUE(coord_->worker->AcquireJob(&ctx, req, &lease).ok());
    return lease;
  };
  auto fail = [&](const v1::AcquireJobResponse& lease, int code, bool legacy_retryable) {
    v1::JobEvent e = Event(lease);
    e.mutable_finished()->set_ok(false);
    e.mutable_finished()->set_error("mat1 and mat2 shapes cannot be multiplied");
    e.mutable_finished()->set_code(code);
    e.mutable_finished()->set_retryable(legacy_retryable);
    return Stream(coord_.get(), {e});
  };
  auto job = [&](const std::string& id) {
    AuthContext ctx(tokens_.alice);
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::Job out;
    EXPECT_TRUE(coord_->client->GetJob(&ctx, req, &out).ok());
    return out;
  };
  // UNAVAILABLE: retried as attempt 2.
  v1::AcquireJobResponse first = acquire();
  ASSERT_TRUE(first.has_job());
  ASSERT_TRUE(fail(first, static_cast<int>(absl::StatusCode::kUnavailable), false).ok());
  EXPECT_EQ(job(first.job_id()).state(), v1::JOB_STATE_QUEUED);
  // A worker that sends no code, only retryable=true (older workers): retried too.
  v1::AcquireJobResponse second = acquire();
  ASSERT_EQ(second.job_id(), first.job_id());
  EXPECT_EQ(second.attempt(), 2);
  ASSERT_TRUE(fail(second, 0, true).ok());
  EXPECT_EQ(job(first.job_id()).state(), v1::JOB_STATE_QUEUED);
  // INTERNAL fails the job at once, with its message, though an attempt remains and
  // the (deprecated) retryable flag says otherwise.
  v1::AcquireJobResponse third = acquire();
  ASSERT_EQ(third.job_id(), first.job_id());
  ASSERT_TRUE(fail(third, static_cast<int>(absl::StatusCode::kInternal), true).ok());
  v1::Job failed = job(first.job_id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.attempt(), 3);
  EXPECT_EQ(failed.error(), "mat1 and mat2 shapes cannot be multiplied");
  // A code that is no status code is refused.
  v1::AcquireJobResponse other = acquire();
  ASSERT_TRUE(other.has_job());
  EXPECT_EQ(fail(other, 99, false).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CoordinatorGrpcTest, AWorkerWithCpuAndCudaDevicesAdvertisesBoth) {
  AuthContext ctx(tokens_.worker);
  v1::RegisterRequest req;
  req.set_name("gpu-node");
  v1::Device* cpu = req.add_devices();
  cpu->set_kind("cpu");
  cpu->set_count(32);
  v1::Device* cuda = req.add_devices();
  cuda->set_kind("cuda");
  cuda->set_count(4);
  cuda->set_memory_bytes(int64_t{80} << 30);
  v1::RegisterResponse resp;
  ASSERT_TRUE(coord_->worker->Register(&ctx, req, &resp).ok());
  AuthContext lctx(tokens_.alice);
  v1::ListWorkersResponse out;
  ASSERT_TRUE(coord_->client->ListWorkers(&lctx, v1::ListWorkersRequest(), &out).ok());
  ASSERT_EQ(out.workers_size(), 1);
  ASSERT_EQ(out.workers(0).devices_size(), 2);
  EXPECT_EQ(out.workers(0).devices(0).kind(), "cpu");
  EXPECT_EQ(out.workers(0).devices(0).count(), 32);
  EXPECT_EQ(out.workers(0).devices(1).kind(), "cuda");
  EXPECT_EQ(out.workers(0).devices(1).count(), 4);
  EXPECT_EQ(out.workers(0).devices(1).memory_bytes(), int64_t{80} << 30);
}

// Issue 17 items 6-8 over gRPC: a worker uploads a rank log and reports its record;
// the owner reads the log (another user may not), DescribeJob shows the attempt, and
// PlanSweep says what a resubmission would reuse without creating anything.
TEST_F(CoordinatorGrpcTest, AttemptLogRecordAndPlanGoThroughTheCoordinator) {
  v1::SubmitSweepResponse sub;
  ASSERT_TRUE(Submit(kSmallSweepYaml, "logs", &sub).ok());
  const std::string worker_id = RegisterWorker(coord_.get());
  AuthContext actx(tokens_.worker);
  v1::AcquireJobRequest areq;
  areq.set_worker_id(worker_id);
  areq.set_free_devices(1);
  v1::AcquireJobResponse lease;
  ASSERT_TRUE(coord_->worker->AcquireJob(&actx, areq, &lease).ok());
  ASSERT_TRUE(lease.has_job());
  auto append = [&](const std::string& data, int64_t offset,
                    v1::AppendAttemptLogResponse* resp) {
    AuthContext ctx(tokens_.worker);
    v1::AppendAttemptLogRequest req;
    req.set_job_id(lease.job_id());
    req.set_attempt(lease.attempt());
    req.set_lease_secret(lease.lease_secret());
    req.set_offset(offset);
    req.set_data(data);
    return coord_->worker->AppendAttemptLog(&ctx, req, resp);
  };
  v1::AppendAttemptLogResponse aresp;
  ASSERT_TRUE(append("rank 0 up\n", 0, &aresp).ok());
  EXPECT_EQ(aresp.next_offset(), 10);
  grpc::Status s = append(std::string(70 << 10, 'x'), 10, &aresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("(at most 65536)"));

  // The attempt fails, with its record.
  v1::JobEvent done = Event(lease);
  done.mutable_finished()->set_ok(false);
  done.mutable_finished()->set_code(static_cast<int>(absl::StatusCode::kInternal));
  done.mutable_finished()->set_error("rank 0 crashed");
  done.mutable_finished()->mutable_repro()->set_host("node1.lab");
  done.mutable_finished()->mutable_repro()->set_wall_seconds(3.5);
  ASSERT_TRUE(Stream(coord_.get(), {done}).ok());
  ASSERT_TRUE(append("rank 0 up\nSegfault\n", 0, &aresp).ok());  // the tail, after the end
  EXPECT_EQ(aresp.next_offset(), 19);

  v1::GetAttemptLogRequest lreq;
  lreq.set_job_id(lease.job_id());
  v1::AttemptLog log;
  {
    AuthContext ctx(tokens_.alice);
    ASSERT_TRUE(coord_->client->GetAttemptLog(&ctx, lreq, &log).ok());
  }
  EXPECT_EQ(log.data(), "rank 0 up\nSegfault\n");
  EXPECT_EQ(log.attempt(), lease.attempt());
  EXPECT_TRUE(log.attempt_ended());
  {
    AuthContext ctx(tokens_.bob);
    s = coord_->client->GetAttemptLog(&ctx, lreq, &log);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(s.error_message(), HasSubstr("the sweep's owner (alice)"));
  }
  v1::JobDetail detail;
  {
    AuthContext ctx(tokens_.bob);  // a reader may see the job and its attempts
    v1::DescribeJobRequest dreq;
    dreq.set_job_id(lease.job_id());
    ASSERT_TRUE(coord_->client->DescribeJob(&ctx, dreq, &detail).ok());
  }
  EXPECT_THAT(detail.spec_json(), HasSubstr("\"method\""));
  ASSERT_EQ(detail.attempts_size(), 1);
  const v1::Attempt& a = detail.attempts(0);
  EXPECT_EQ(a.worker_id(), worker_id);
  EXPECT_EQ(a.end_state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(a.code(), static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_THAT(a.error(), HasSubstr("rank 0 crashed"));
  EXPECT_EQ(a.repro().host(), "node1.lab");
  EXPECT_EQ(a.repro().wall_seconds(), 3.5);
  EXPECT_EQ(a.log_ranks_size(), 1);

  // The plan of the same file: nothing reusable (nothing succeeded), the registered
  // worker (one CPU device, every dataset) can run each job; nothing is created.
  v1::SweepPlan plan;
  {
    AuthContext ctx(tokens_.alice);
    v1::SubmitSweepRequest preq;
    preq.set_sweep_yaml(kSmallSweepYaml);
    ASSERT_TRUE(coord_->client->PlanSweep(&ctx, preq, &plan).ok());
  }
  ASSERT_EQ(plan.jobs_size(), 2);
  EXPECT_EQ(plan.jobs_new(), 2);
  EXPECT_EQ(plan.jobs_unrunnable(), 0);
  for (const v1::PlannedJob& j : plan.jobs()) {
    EXPECT_EQ(j.reused_from(), "");
    ASSERT_EQ(j.workers_size(), 1);
    EXPECT_EQ(j.datasets_size(), 3);
  }
  EXPECT_THAT(AllJobs(sub.sweep_id(), 100), SizeIs(2));
  {
    AuthContext ctx(tokens_.alice);
    v1::ListSweepsResponse sweeps;
    ASSERT_TRUE(coord_->client->ListSweeps(&ctx, v1::ListSweepsRequest(), &sweeps).ok());
    EXPECT_EQ(sweeps.sweeps_size(), 1);
  }
}

}  // namespace
}  // namespace rib
