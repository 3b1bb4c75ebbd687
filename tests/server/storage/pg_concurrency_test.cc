// rib-test-labels: postgres
// Many workers acquiring, heartbeating and reporting at once against the real
// PostgresRepository: PostgreSQL detects no deadlock (the lock order of
// postgres_repository.h), every job succeeds exactly once on its first attempt, every
// sweep ends SUCCEEDED although no transaction locks the sweep row, and a watcher that
// reads each sweep's log meanwhile ("after the last id seen") misses no event.
#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/storage/postgres/postgres_repository.h"
#include "tests/server/storage/repository_contract.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/testing/test_env.h"

namespace rib::storage::contract {
namespace {

using ::rib::testing::PgTestUri;
using ::rib::testing::QueryOne;

// Only the contract's sweep helpers are used here; its suite runs in
// postgres_repository_test.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RepositoryContractTest);

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("concurrency"));

constexpr int kWorkers = 16;
constexpr int kModels = 30;

// PostgreSQL's count of detected deadlocks in the test database, read once no other
// session is connected to it (a session adds its counts when it ends).
int64_t Deadlocks() {
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (QueryOne(PgTestUri(),
                  "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                  "current_database() AND pid <> pg_backend_pid()") != "0" &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  return std::stoll(QueryOne(
      PgTestUri(),
      "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"));
}

// Per model: pre, ft and lp on fmnist-v2, lpft (needs lp) and a soup of ft and lp
// (needs both: its two dependencies often finish at the same moment).
NewSweep GridSweep(const std::string& owner) {
  NewSweep s;
  s.name = "grid-" + owner;
  s.owner = owner;
  s.max_attempts = 2;
  s.yaml = "name: grid\n";
  s.suite = "fmnist-rib";
  s.methods = {"ft", "lp", "lpft", "soup"};
  s.finetune_datasets = {"fmnist-v2"};
  s.eval_datasets = kAllDatasets;
  for (int i = 0; i < kModels; ++i) {
    const std::string m = absl::StrCat("m", i);
    s.models.push_back(m);
    s.jobs.push_back(MakeJob(m + "/pre", Spec(m, "pre", ""), owner));
    s.jobs.push_back(MakeJob(m + "/ft/fmnist-v2", Spec(m, "ft", "fmnist-v2"), owner));
    s.jobs.push_back(MakeJob(m + "/lp/fmnist-v2", Spec(m, "lp", "fmnist-v2"), owner));
    s.jobs.push_back(MakeJob(m + "/lpft/fmnist-v2", Spec(m, "lpft", "fmnist-v2"), owner,
                             {m + "/lp/fmnist-v2"}));
    s.jobs.push_back(MakeJob(m + "/soup", Spec(m, "soup", ""), owner,
                             {m + "/ft/fmnist-v2", m + "/lp/fmnist-v2"}));
  }
  return s;
}

// The job's events of one attempt, as a rib-worker sends them.
absl::Status RunLease(Repository& repo, const std::string& worker,
                      const domain::Lease& lease) {
  auto report = [&](JobReport::Kind kind) { return LeaseReport(lease, kind); };
  auto hb = repo.Heartbeat(kWorkerUser, worker, {{lease.job_id, lease.attempt}}, 0);
  if (!hb.ok()) return hb.status();
  if (!hb->revoked.empty()) return absl::InternalError("a live lease was revoked");
  RIB_RETURN_IF_ERROR(repo.Report(report(JobReport::Kind::kStarted)));
  for (const std::string& d : lease.spec.eval_datasets) {
    JobReport r = report(JobReport::Kind::kResult);
    r.result = {d, "", 3, 4, 0};
    RIB_RETURN_IF_ERROR(repo.Report(r));
  }
  JobReport done = report(JobReport::Kind::kFinished);
  done.ok = true;
  done.weights = "weights/" + lease.hash + ".safetensors";
  return repo.Report(done);
}

TEST(PgConcurrencyTest, ConcurrentAcquirersAndReportersNeverDeadlock) {
  ::rib::testing::TruncateAllTables();
  const int64_t deadlocks_before = Deadlocks();
  PostgresOptions pg;
  pg.uri = PgTestUri();
  pg.pool_size = kWorkers;
  pg.repository.lease_timeout = absl::Seconds(60);
  auto repo_or = PostgresRepository::Create(pg);
  ASSERT_THAT(repo_or, IsOk());
  std::unique_ptr<PostgresRepository> repo = std::move(*repo_or);

  std::vector<std::string> sweeps;
  for (const char* owner : {"alice", "bob"}) {
    auto submitted = repo->SubmitSweep(GridSweep(owner));
    ASSERT_THAT(submitted, IsOk());
    sweeps.push_back(submitted->sweep_id);
  }
  const int total = 2 * kModels * 5;

  absl::Mutex mu;
  std::map<std::string, int> successes;  // job id → finished-ok reports accepted
  std::vector<std::string> errors;
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      WorkerRegistration reg;
      reg.name = absl::StrCat("node", w);
      reg.principal = kWorkerUser;
      reg.devices = {{"cpu", 1, 0}};
      reg.datasets = kAllDatasets;
      auto worker = repo->RegisterWorker(reg);
      if (!worker.ok()) {
        absl::MutexLock lock(&mu);
        errors.push_back(std::string(worker.status().message()));
        return;
      }
      const absl::Time until = absl::Now() + absl::Seconds(120);
      while (done.load() < total && absl::Now() < until) {
        auto lease = repo->AcquireJob(kWorkerUser, worker->id, 1, "cpu");
        absl::Status s = lease.status();
        if (s.ok() && !lease->has_value()) {
          absl::SleepFor(absl::Milliseconds(2));  // dependents not queued yet
          continue;
        }
        if (s.ok()) s = RunLease(*repo, worker->id, **lease);
        absl::MutexLock lock(&mu);
        if (!s.ok()) {
          errors.push_back(std::string(s.message()));
          continue;
        }
        ++successes[(*lease)->job_id];
        ++done;
      }
    });
  }
  // The other writers a coordinator runs meanwhile: the lease-expiry pass and readers.
  std::thread background([&] {
    while (!stop.load()) {
      absl::Status s = repo->ExpireLeases().status();
      for (const std::string& id : sweeps) {
        if (s.ok()) s = repo->GetSweep(id).status();
      }
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        errors.push_back(std::string(s.message()));
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  // A watcher of each sweep, as WatchSweep reads: "after the last id seen", while the
  // events are being written. It must see every event exactly once, in the log's
  // final order, although transactions commit in another order than they began.
  std::map<std::string, std::vector<int64_t>> watched;  // sweep → ids, as seen
  auto watch_once = [&](const std::string& id) -> absl::Status {
    std::vector<int64_t>& seen = watched[id];
    auto events = repo->ListEvents(id, seen.empty() ? 0 : seen.back(), 500);
    if (!events.ok()) return events.status();
    for (const SweepEvent& e : *events) seen.push_back(e.id);
    return absl::OkStatus();
  };
  std::thread watcher([&] {
    while (!stop.load()) {
      for (const std::string& id : sweeps) {
        absl::Status s = watch_once(id);
        if (!s.ok()) {
          absl::MutexLock lock(&mu);
          errors.push_back(std::string(s.message()));
        }
      }
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  background.join();
  watcher.join();
  for (const std::string& id : sweeps) {
    for (;;) {  // what was written after the watcher's last read
      const size_t before = watched[id].size();
      ASSERT_THAT(watch_once(id), IsOk());
      if (watched[id].size() == before) break;
    }
    auto all = repo->ListEvents(id, 0, 1'000'000);
    ASSERT_THAT(all, IsOk());
    std::vector<int64_t> ids;
    for (const SweepEvent& e : *all) ids.push_back(e.id);
    EXPECT_EQ(watched[id], ids) << "the watcher of sweep " << id
                                << " skipped or repeated events";
    ASSERT_FALSE(all->empty());
    EXPECT_EQ(all->back().kind, SweepEvent::Kind::kSweepState);
  }

  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(done.load(), total);
  for (const std::string& id : sweeps) {
    auto sweep = repo->GetSweep(id);
    ASSERT_THAT(sweep, IsOk());
    EXPECT_EQ(sweep->state, domain::SweepState::kSucceeded) << sweep->name;
    JobFilter filter;
    filter.sweep_id = id;
    auto jobs = repo->ListJobs(filter);
    ASSERT_THAT(jobs, IsOk());
    ASSERT_EQ(jobs->jobs.size(), static_cast<size_t>(kModels * 5));
    for (const Job& job : jobs->jobs) {
      EXPECT_EQ(job.state, domain::JobState::kSucceeded) << job.key;
      EXPECT_EQ(job.attempt, 1) << job.key << " was handed out more than once";
      EXPECT_EQ(successes[job.id], 1) << job.key;
    }
  }
  repo.reset();  // its sessions end and report their counts
  EXPECT_EQ(Deadlocks() - deadlocks_before, 0)
      << "PostgreSQL detected deadlocks (its log says which statements)";
}

// The log's order is commit order (migration 0014): an event inserted first but
// committed last comes after the events a watcher has already read past, so "after the
// last id seen" does not skip it.
TEST(PgConcurrencyTest, AnEventCommittedLateComesAfterTheOnesAWatcherRead) {
  ::rib::testing::TruncateAllTables();
  PostgresOptions pg;
  pg.uri = PgTestUri();
  auto repo_or = PostgresRepository::Create(pg);
  ASSERT_THAT(repo_or, IsOk());
  std::unique_ptr<PostgresRepository> repo = std::move(*repo_or);
  auto submitted = repo->SubmitSweep(GridSweep("alice"));
  ASSERT_THAT(submitted, IsOk());
  const std::string id = submitted->sweep_id;
  auto start = repo->LastEventId(id);
  ASSERT_THAT(start, IsOk());
  const char* insert =
      "INSERT INTO events (sweep_id, kind, dataset) VALUES ($1, 'result', $2)";

  pqxx::connection slow_conn(PgTestUri());
  pqxx::work slow(slow_conn);
  slow.exec_params(insert, id, "begun first");  // its transaction stays open
  {
    pqxx::connection fast_conn(PgTestUri());
    pqxx::work fast(fast_conn);
    fast.exec_params(insert, id, "committed first");
    fast.commit();
  }
  auto seen = repo->ListEvents(id, *start, 100);
  ASSERT_THAT(seen, IsOk());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].result.dataset, "committed first");
  slow.commit();
  auto later = repo->ListEvents(id, (*seen)[0].id, 100);
  ASSERT_THAT(later, IsOk());
  ASSERT_EQ(later->size(), 1u) << "the event committed last was skipped";
  EXPECT_EQ((*later)[0].result.dataset, "begun first");
  EXPECT_GT((*later)[0].id, (*seen)[0].id);
}

// The measure above sees a deadlock when there is one: two sessions that lock two rows
// in opposite orders.
TEST(PgConcurrencyTest, TheDeadlockCountSeesADeadlock) {
  const int64_t before = Deadlocks();
  {
    pqxx::connection setup(PgTestUri());
    pqxx::nontransaction(setup).exec(
        "CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY);"
        " INSERT INTO deadlock_probe VALUES (1), (2) ON CONFLICT DO NOTHING");
  }
  std::atomic<int> failed{0};
  auto session = [&](int first, int second) {
    pqxx::connection c(PgTestUri());
    try {
      pqxx::work tx(c);
      tx.exec_params("SELECT 1 FROM deadlock_probe WHERE id = $1 FOR UPDATE", first);
      absl::SleepFor(absl::Milliseconds(300));
      tx.exec_params("SELECT 1 FROM deadlock_probe WHERE id = $1 FOR UPDATE", second);
      tx.commit();
    } catch (const std::exception&) {  // pqxx::deadlock_detected
      ++failed;
    }
  };
  std::thread a(session, 1, 2), b(session, 2, 1);
  a.join();
  b.join();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(Deadlocks() - before, 1);
}

}  // namespace
}  // namespace rib::storage::contract
