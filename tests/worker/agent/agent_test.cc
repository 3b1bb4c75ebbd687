// The agent's lease loop against an in-process fake coordinator (real gRPC on port 0)
// and a fake executor: registration, acquisition, reporting, NOT_FOUND heartbeats,
// revoked leases, slot accounting and drain.
#include "worker/agent/agent.h"

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/agent/fake_coordinator.h"
#include "worker/agent/agent_metrics.h"
#include "worker/data/eval_cache_stats.h"

namespace rib::agent {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;

using ::rib::agent::testing::Eventually;
using ::rib::agent::testing::FakeCoordinator;
using ::rib::agent::testing::FakeExecutor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using End = FakeExecutor::End;

// Runs an agent on a thread for the duration of a test.
class AgentRunner {
 public:
  AgentRunner(const FakeCoordinator& coordinator, FakeExecutor* executor, int slots,
              const std::string& token = "") {
    AgentOptions options;
    options.coordinator = coordinator.address();
    options.token = token;
    options.name = "test-worker";
    options.devices = *ParseDevices(absl::StrCat("cpu:", slots));
    options.datasets = {"fmnist-v2", "fmnist-val"};
    options.labels = {"rack=a"};
    options.acquire_wait = absl::Milliseconds(200);
    options.retry_backoff = absl::Milliseconds(50);
    options.drain_timeout = absl::Seconds(5);
    agent_ = *Agent::Create(options, executor);
    thread_ = std::thread([this] { status_ = agent_->Run(); });
  }
  ~AgentRunner() { Stop(); }
  void Stop() {
    agent_->Shutdown();
    Join();
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  Agent& agent() { return *agent_; }
  absl::Status status() const { return status_; }

 private:
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
  absl::Status status_ = absl::UnknownError("not run");
};

TEST(AgentTest, RegistersAdvertisingDevicesDatasetsAndLabels) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 3);
  ASSERT_TRUE(Eventually([&] { return runner.agent().worker_id() == "w1"; }));
  std::vector<v1::RegisterRequest> regs = coordinator.registrations();
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].name(), "test-worker");
  ASSERT_EQ(regs[0].devices_size(), 1);
  EXPECT_EQ(regs[0].devices(0).kind(), "cpu");
  EXPECT_EQ(regs[0].devices(0).count(), 3);
  EXPECT_THAT(regs[0].datasets(), ElementsAre("fmnist-v2", "fmnist-val"));
  EXPECT_THAT(regs[0].labels(), ElementsAre("rack=a"));
  // Heartbeats follow at the coordinator's interval (100 ms) and say all slots are free.
  ASSERT_TRUE(Eventually([&] { return coordinator.heartbeats().size() >= 3; }));
  EXPECT_EQ(coordinator.heartbeats()[0].worker_id(), "w1");
  EXPECT_EQ(coordinator.heartbeats()[0].free_devices(), 3);
  ASSERT_FALSE(coordinator.acquires().empty());
  EXPECT_EQ(coordinator.acquires()[0].device_kind(), "cpu");
  EXPECT_EQ(coordinator.acquires()[0].free_devices(), 3);
}

TEST(AgentTest, AcquiresRunsAndReportsAFailedAttempt) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  const JobAssignment a = executor.record(0).assignment;
  EXPECT_EQ(a.job_id, "j1");
  EXPECT_EQ(a.attempt, 1);
  EXPECT_EQ(a.hash, "hash-j1");
  EXPECT_EQ(a.spec.model.arch, "fmnist_vit_tiny");
  EXPECT_EQ(a.spec.finetune_dataset, "fmnist-v2");
  EXPECT_EQ(a.device_kind, "cpu");
  EXPECT_THAT(a.device_ids, ElementsAre(0));
  EXPECT_FALSE(a.spec_proto.empty());

  // The lease is renewed by heartbeats while the job runs.
  ASSERT_TRUE(Eventually([&] {
    auto hb = coordinator.heartbeats();
    return !hb.empty() && hb.back().leases_size() == 1 &&
           hb.back().leases(0).job_id() == "j1" && hb.back().leases(0).attempt() == 1 &&
           hb.back().free_devices() == 0;
  }));

  JobOutcome failed;
  failed.status = absl::InternalError("rank 1 exited with status 3; stderr: boom");
  executor.Finish(0, failed);
  ASSERT_TRUE(Eventually([&] { return coordinator.finished("j1").size() == 1; }));
  v1::JobFinished f = coordinator.finished("j1")[0];
  EXPECT_FALSE(f.ok());
  EXPECT_TRUE(f.retryable());
  EXPECT_EQ(f.code(), static_cast<int>(absl::StatusCode::kUnavailable));  // retried
  EXPECT_FALSE(f.released());
  EXPECT_THAT(f.error(), HasSubstr("rank 1 exited with status 3"));

  // A job whose rank 0 reported `finished` itself is not reported again.
  coordinator.AddJob("j2");
  ASSERT_TRUE(executor.WaitForStarts(2));
  JobOutcome reported;
  reported.finished_reported = true;
  executor.Finish(1, reported);
  ASSERT_TRUE(Eventually([&] { return runner.agent().free_slots() == 1; }));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(coordinator.finished("j2").empty());
}

TEST(AgentTest, EveryCallCarriesTheTokenAndEveryEventItsAttemptsSecret) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1, "rib_worker_token");
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  // The executor's stream stamps the secret on what it forwards (ranks' events).
  v1::JobEvent started;
  started.set_started(true);
  ASSERT_THAT(executor.record(0).assignment.events->Send(started), IsOk());
  ASSERT_THAT(executor.record(0).assignment.events->Close(), IsOk());
  // Attempt 1 fails and is reported by the agent; attempt 2 is drained by the agent.
  JobOutcome failed;
  failed.status = absl::InternalError("rank 0 died");
  executor.Finish(0, failed);
  ASSERT_TRUE(Eventually([&] { return coordinator.finished("j1").size() == 1; }));
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(2));
  EXPECT_EQ(executor.record(1).assignment.attempt, 2);
  ASSERT_TRUE(Eventually([&] { return !coordinator.heartbeats().empty(); }));
  runner.agent().Drain();
  runner.Join();
  EXPECT_THAT(runner.status(), IsOk());

  std::vector<v1::JobEvent> events = coordinator.events();
  ASSERT_EQ(events.size(), 3u);  // started and failed (attempt 1), released (attempt 2)
  EXPECT_TRUE(events[0].started());
  EXPECT_EQ(events[0].lease_secret(), FakeCoordinator::SecretOf("j1", 1));
  EXPECT_FALSE(events[1].finished().ok());
  EXPECT_EQ(events[1].lease_secret(), FakeCoordinator::SecretOf("j1", 1));
  EXPECT_TRUE(events[2].finished().released());
  EXPECT_EQ(events[2].attempt(), 2);
  EXPECT_EQ(events[2].lease_secret(), FakeCoordinator::SecretOf("j1", 2));

  std::set<std::string> methods;
  for (const auto& [method, authorization] : coordinator.calls()) {
    methods.insert(method);
    EXPECT_EQ(authorization, "Bearer rib_worker_token") << method;
  }
  EXPECT_THAT(methods, ::testing::UnorderedElementsAre("Register", "Heartbeat",
                                                       "AcquireJob", "ReportResults"));
}

TEST(AgentTest, RefusedTokenKeepsRetryingRegistrationWithoutSpinning) {
  FakeCoordinator coordinator;
  coordinator.SetRefuseAll(
      grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown or revoked token"));
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);  // no token
  absl::SleepFor(absl::Milliseconds(600));
  // retry_backoff is 50 ms: about 12 tries, never hundreds, and no registration.
  const size_t tries = coordinator.calls().size();
  EXPECT_GE(tries, 3u);
  EXPECT_LE(tries, 30u);
  EXPECT_EQ(runner.agent().worker_id(), "");
  for (const auto& call : coordinator.calls()) EXPECT_EQ(call.first, "Register");
  // Once the coordinator accepts (a token fixed on its side), the worker registers.
  coordinator.SetRefuseAll(grpc::Status::OK);
  EXPECT_TRUE(Eventually([&] { return runner.agent().worker_id() == "w1"; }));
}

// {label value → value} of one family of a scrape (the family's single label).
std::map<std::string, double> Scraped(const AgentMetrics& metrics,
                                      const std::string& name) {
  std::map<std::string, double> out;
  for (const auto& family : metrics.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      const double v = family.type == prometheus::MetricType::Counter ? m.counter.value
                                                                      : m.gauge.value;
      out[m.label.empty() ? "" : m.label[0].value] = v;
    }
  }
  return out;
}

TEST(AgentTest, MetricsCountSlotsRegistrationsAndJobExits) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 2);
  AgentMetrics metrics(&runner.agent());
  ASSERT_TRUE(Eventually([&] { return runner.agent().registrations() == 1; }));
  EXPECT_EQ(Scraped(metrics, "rib_worker_slots"),
            (std::map<std::string, double>{{"busy", 0}, {"free", 2}}));
  EXPECT_EQ(Scraped(metrics, "rib_worker_registrations_total")[""], 1);

  coordinator.AddJob("j1");
  coordinator.AddJob("j2");
  ASSERT_TRUE(executor.WaitForStarts(2));
  ASSERT_TRUE(
      Eventually([&] { return Scraped(metrics, "rib_worker_slots")["busy"] == 2; }));
  JobOutcome failed;
  failed.status = absl::InternalError("rank 0 exited with status 1");
  executor.Finish(0, failed);
  JobOutcome reported;
  reported.finished_reported = true;
  executor.Finish(1, reported);
  ASSERT_TRUE(Eventually([&] { return runner.agent().free_slots() == 2; }));
  EXPECT_EQ(Scraped(metrics, "rib_worker_job_exits_total"),
            (std::map<std::string, double>{
                {"drained", 0}, {"failed", 1}, {"fenced", 0}, {"reported", 1}, {"revoked", 0}}));
  EXPECT_EQ(Scraped(metrics, "rib_worker_slots")["free"], 2);
  // Each ended attempt's wall time, one histogram per kind of end.
  std::map<std::string, uint64_t> timed;
  for (const auto& family : metrics.Collect()) {
    if (family.name != "rib_worker_job_duration_seconds") continue;
    EXPECT_EQ(family.type, prometheus::MetricType::Histogram);
    for (const auto& m : family.metric) {
      ASSERT_EQ(m.label.size(), 1u);
      EXPECT_GE(m.histogram.sample_sum, 0);
      EXPECT_LT(m.histogram.sample_sum, 60);  // the fake jobs ended at once
      timed[m.label[0].value] = m.histogram.sample_count;
    }
  }
  EXPECT_EQ(timed, (std::map<std::string, uint64_t>{{"failed", 1}, {"reported", 1}}));
}

// The evaluation cache's numbers come from its folder (the ranks are other processes):
// the entries' size and count, and the hits and misses the ranks added to its stats.
TEST(AgentTest, MetricsReportTheEvaluationCacheFolder) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  ::rib::testing::ScratchDir cache;
  AgentMetrics without(&runner.agent());
  EXPECT_TRUE(Scraped(without, "rib_worker_eval_cache_bytes").empty());
  AgentMetrics metrics(&runner.agent(), cache.path());
  EXPECT_EQ(Scraped(metrics, "rib_worker_eval_cache_bytes")[""], 0);
  std::ofstream(cache.Join("a.evc")) << std::string(1000, 'x');
  std::ofstream(cache.Join("b.evc")) << std::string(24, 'x');
  std::ofstream(cache.Join("a.lock"));
  ASSERT_TRUE(data::internal::UpdateEvalCacheCounters(cache.path(), 3, 0, nullptr, nullptr));
  ASSERT_TRUE(data::internal::UpdateEvalCacheCounters(cache.path(), 0, 2, nullptr, nullptr));
  EXPECT_EQ(Scraped(metrics, "rib_worker_eval_cache_bytes")[""], 1024);
  EXPECT_EQ(Scraped(metrics, "rib_worker_eval_cache_entries")[""], 2);
  EXPECT_EQ(Scraped(metrics, "rib_worker_eval_cache_hits_total")[""], 3);
  EXPECT_EQ(Scraped(metrics, "rib_worker_eval_cache_misses_total")[""], 2);
}

TEST(AgentTest, NotFoundHeartbeatKillsJobsAndRegistersAnew) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  const absl::Time forgotten = absl::Now();
  coordinator.ForgetWorkers();
  EXPECT_EQ(executor.WaitForEnd(0), End::kKilled);
  // Within about one heartbeat interval (100 ms); generous bound for loaded machines.
  EXPECT_LT(absl::Now() - forgotten, absl::Seconds(2));
  ASSERT_TRUE(Eventually([&] { return runner.agent().registrations() == 2; }));
  EXPECT_EQ(runner.agent().worker_id(), "w2");
  // The killed attempt belongs to nobody now: the agent reports nothing for it.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(coordinator.finished("j1").empty());
  // The re-registered worker leases again.
  coordinator.AddJob("j2");
  ASSERT_TRUE(executor.WaitForStarts(2));
  EXPECT_EQ(executor.record(1).assignment.job_id, "j2");
}

TEST(AgentTest, RevokedLeaseKillsTheJobWithinOneHeartbeat) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  const absl::Time revoked = absl::Now();
  coordinator.Revoke("j1");
  EXPECT_EQ(executor.WaitForEnd(0), End::kKilled);
  EXPECT_LT(absl::Now() - revoked, absl::Seconds(2));
  EXPECT_EQ(runner.agent().registrations(), 1);
  // The slot is free again and the next job runs on it.
  coordinator.AddJob("j2");
  ASSERT_TRUE(executor.WaitForStarts(2));
  EXPECT_THAT(executor.record(1).assignment.device_ids, ElementsAre(0));
  EXPECT_TRUE(coordinator.finished("j1").empty());
}

// A heartbeat sent beside the attempt's finished report finds the lease already ended
// by it: the ranks, ending on their own, are not killed, the lease is no longer
// heartbeated, and the attempt counts as reported (not revoked).
TEST(AgentTest, ALeaseEndedByItsFinishedReportIsNotKilled) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  AgentMetrics metrics(&runner.agent());
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  executor.MarkFinishing(0);
  const size_t before = coordinator.heartbeats().size();
  coordinator.Revoke("j1");
  // Heartbeats after the revocation stop carrying the lease.
  ASSERT_TRUE(Eventually([&] {
    auto beats = coordinator.heartbeats();
    return beats.size() > before + 1 && beats.back().leases_size() == 0;
  }));
  EXPECT_EQ(executor.record(0).end, End::kRunning);
  JobOutcome reported;
  reported.finished_reported = true;
  executor.Finish(0, reported);
  ASSERT_TRUE(Eventually([&] { return runner.agent().free_slots() == 1; }));
  EXPECT_EQ(Scraped(metrics, "rib_worker_job_exits_total")["reported"], 1);
  EXPECT_EQ(Scraped(metrics, "rib_worker_job_exits_total")["revoked"], 0);
  EXPECT_TRUE(coordinator.finished("j1").empty());  // the agent reports nothing more
}

TEST(AgentTest, ALeaseThatCannotBeRenewedIsGivenUpBeforeItExpires) {
  FakeCoordinator coordinator;  // heartbeat 100 ms, lease timeout 500 ms
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  // Healthy heartbeats renew the lease: three lease timeouts pass without a fence.
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(executor.record(0).end, End::kRunning);
  EXPECT_EQ(runner.agent().job_exits().at("fenced"), 0);
  // Then the coordinator stops answering heartbeats: the agent kills the ranks itself.
  coordinator.SetHeartbeatsFail(true);
  EXPECT_EQ(executor.WaitForEnd(0), End::kKilled);
  ASSERT_TRUE(Eventually([&] { return runner.agent().job_exits().at("fenced") == 1; }));
  // Nothing is reported for the given-up attempt (the coordinator requeues it on expiry).
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(coordinator.finished("j1").empty());
  // Heartbeats come back: the worker leases again.
  coordinator.SetHeartbeatsFail(false);
  coordinator.AddJob("j2");
  ASSERT_TRUE(executor.WaitForStarts(2));
}

TEST(AgentTest, AFailedHeartbeatIsRetriedSoonSoAShortOutageFencesNothing) {
  // Heartbeat every 5 s (lease timeout 25 s); the runner retries after 50 ms.
  FakeCoordinator coordinator(/*heartbeat_interval_ms=*/5000);
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  auto heartbeat_calls = [&] {
    int n = 0;
    for (const auto& [method, auth] : coordinator.calls()) n += method == "Heartbeat";
    return n;
  };
  coordinator.SetHeartbeatsFail(true);
  const int calls = heartbeat_calls();
  const size_t renewed = coordinator.heartbeats().size();
  ASSERT_TRUE(Eventually([&] { return heartbeat_calls() > calls; }, absl::Seconds(10)));
  coordinator.SetHeartbeatsFail(false);  // one heartbeat failed; the coordinator is back
  // The next one is a retry, not the next 5 s tick.
  EXPECT_TRUE(Eventually([&] { return coordinator.heartbeats().size() > renewed; },
                         absl::Seconds(2)));
  EXPECT_EQ(executor.record(0).end, End::kRunning);
  EXPECT_EQ(runner.agent().job_exits().at("fenced"), 0);
}

TEST(AgentTest, RunsSeveralJobsAtOnceWithinItsSlots) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 2);
  coordinator.AddJob("a");
  coordinator.AddJob("b");
  coordinator.AddJob("c");
  ASSERT_TRUE(executor.WaitForStarts(2));
  // Both slots busy, on different devices; the third job waits.
  std::set<int> used;
  for (int i = 0; i < 2; ++i) {
    for (int id : executor.record(i).assignment.device_ids) used.insert(id);
  }
  EXPECT_EQ(used, (std::set<int>{0, 1}));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(executor.starts(), 2);
  EXPECT_EQ(runner.agent().free_slots(), 0);

  JobOutcome done;
  done.finished_reported = true;
  executor.Finish(0, done);
  ASSERT_TRUE(executor.WaitForStarts(3));
  EXPECT_EQ(executor.record(2).assignment.job_id, "c");

  // A 2-device job fits only once both slots are free.
  coordinator.AddJob("wide", 2);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(executor.starts(), 3);
  executor.Finish(1, done);
  executor.Finish(2, done);
  ASSERT_TRUE(executor.WaitForStarts(4));
  EXPECT_EQ(executor.record(3).assignment.job_id, "wide");
  EXPECT_THAT(executor.record(3).assignment.device_ids, ElementsAre(0, 1));
  EXPECT_EQ(executor.max_busy_devices(), 2);
  // Every request says which leases the agent holds (so the coordinator can requeue
  // one whose answer was lost); while "b" ran with a slot free, it was listed.
  bool listed_b = false;
  for (const auto& acquire : coordinator.acquires()) {
    EXPECT_LE(acquire.free_devices(), 2);
    EXPECT_GE(acquire.free_devices(), 1);
    EXPECT_TRUE(acquire.lists_held());
    for (const v1::LeaseRef& held : acquire.held()) {
      listed_b = listed_b || (held.job_id() == "b" && held.attempt() == 1);
    }
  }
  EXPECT_TRUE(listed_b);
}

TEST(AgentTest, DrainStopsLeasingReleasesRunningJobsAndReturns) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  coordinator.AddJob("j2");
  runner.agent().Drain();
  EXPECT_EQ(executor.WaitForEnd(0), End::kDrained);
  runner.Join();
  EXPECT_THAT(runner.status(), IsOk());
  std::vector<v1::JobFinished> f = coordinator.finished("j1");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(f[0].ok());
  EXPECT_TRUE(f[0].retryable());
  EXPECT_TRUE(f[0].released());
  EXPECT_EQ(f[0].error(), "worker drained");
  EXPECT_EQ(executor.starts(), 1);  // j2 was never leased
  EXPECT_EQ(coordinator.attempt("j2"), 0);
}

TEST(AgentTest, CoordinatorDrainFlagDrainsTheWorker) {
  FakeCoordinator coordinator;
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("j1");
  ASSERT_TRUE(executor.WaitForStarts(1));
  coordinator.SetDrain(true);
  EXPECT_EQ(executor.WaitForEnd(0), End::kDrained);
  runner.Join();
  ASSERT_EQ(coordinator.finished("j1").size(), 1u);
  EXPECT_EQ(coordinator.finished("j1")[0].error(), "worker drained");
}

TEST(AgentTest, JobNeedingMoreDevicesThanFreeIsHandedBack) {
  FakeCoordinator coordinator;
  coordinator.SetIgnoreFreeDevices(true);
  FakeExecutor executor;
  AgentRunner runner(coordinator, &executor, 1);
  coordinator.AddJob("wide", 2);
  ASSERT_TRUE(Eventually([&] { return coordinator.finished("wide").size() == 1; }));
  v1::JobFinished f = coordinator.finished("wide")[0];
  EXPECT_FALSE(f.ok());
  EXPECT_TRUE(f.retryable());
  EXPECT_TRUE(f.released());
  EXPECT_THAT(f.error(), HasSubstr("job needs 2 cpu devices; this worker has 1 free"));
  EXPECT_EQ(executor.starts(), 0);
  EXPECT_EQ(runner.agent().free_slots(), 1);
}

}  // namespace
}  // namespace rib::agent
