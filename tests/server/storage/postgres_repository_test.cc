// rib-test-labels: postgres
// The Repository contract against PostgreSQL, plus what only a real database can show:
// migrations, concurrent submissions, SKIP LOCKED hand-out, NOTIFY across processes,
// the state machine's guard in SQL, DATA_LOSS for stored values that do not parse.
#include "server/storage/postgres/postgres_repository.h"

#include <pqxx/pqxx>
#include <thread>

#include "server/storage/postgres/migrations.h"
#include "server/storage/postgres/pg_change_notifier.h"
#include "server/storage/postgres/pg_job_writes.h"
#include "tests/server/storage/repository_attempts_contract.h"
#include "tests/server/storage/repository_contract.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/testing/test_env.h"

namespace rib::storage::contract {
namespace {

using ::rib::testing::PgTestUri;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("repo"));

std::unique_ptr<Repository> MakePostgres(const RepositoryOptions& options) {
  ::rib::testing::TruncateAllTables();
  PostgresOptions pg;
  pg.uri = PgTestUri();
  pg.repository = options;
  auto repo = PostgresRepository::Create(pg);
  EXPECT_THAT(repo, IsOk());
  return repo.ok() ? std::move(*repo) : nullptr;
}

std::unique_ptr<ChangeNotifier> MakeNotifier() {
  auto notifier = PgChangeNotifier::Create(PgTestUri());
  EXPECT_THAT(notifier, IsOk());
  return notifier.ok() ? std::move(*notifier) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Postgres, RepositoryContractTest,
                         ::testing::Values(Backend{"postgres", &MakePostgres,
                                                   &MakeNotifier}),
                         [](const auto& info) { return info.param.name; });

std::unique_ptr<PostgresRepository> Open(scheduling::Clock* clock = nullptr) {
  PostgresOptions pg;
  pg.uri = PgTestUri();
  pg.repository.clock = clock;
  pg.repository.expiry_grace_after = absl::InfiniteDuration();  // the clock jumps
  auto repo = PostgresRepository::Create(pg);
  EXPECT_THAT(repo, IsOk());
  return std::move(*repo);
}

TEST(MigrationsTest, AppliedTwiceChangeNothing) {
  const std::string uri = ::rib::testing::CreateExtraDatabase("mig");
  const auto migrations = pg::EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(migrations[0].version, 1);
  RIB_ASSERT_OK_AND_ASSIGN(int first, pg::ApplyMigrations(uri, migrations));
  EXPECT_EQ(first, static_cast<int>(migrations.size()));
  const std::string schema_query =
      "SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' "
      "ORDER BY table_name, column_name) FROM information_schema.columns "
      "WHERE table_schema = 'public'";
  const std::string schema = ::rib::testing::QueryOne(uri, schema_query);
  EXPECT_THAT(schema, HasSubstr("jobs.attempt:integer"));
  RIB_ASSERT_OK_AND_ASSIGN(int second, pg::ApplyMigrations(uri, migrations));
  EXPECT_EQ(second, 0);
  EXPECT_EQ(::rib::testing::QueryOne(uri, schema_query), schema);
  EXPECT_EQ(::rib::testing::QueryOne(uri, "SELECT count(*) FROM schema_migrations"),
            std::to_string(migrations.size()));
}

TEST(MigrationsTest, TwoCoordinatorsStartingAtOnceMigrateOnce) {
  const std::string uri = ::rib::testing::CreateExtraDatabase("mig2");
  absl::StatusOr<int> a, b;
  std::thread ta([&] { a = pg::ApplyMigrations(uri, pg::EmbeddedMigrations()); });
  std::thread tb([&] { b = pg::ApplyMigrations(uri, pg::EmbeddedMigrations()); });
  ta.join();
  tb.join();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(*a + *b, static_cast<int>(pg::EmbeddedMigrations().size()));
}

TEST(MigrationsTest, SourceFolderMatchesTheEmbeddedCopy) {
  RIB_ASSERT_OK_AND_ASSIGN(
      auto loaded, pg::LoadMigrations(::rib::testing::SourceDir() + "/migrations"));
  const auto embedded = pg::EmbeddedMigrations();
  ASSERT_EQ(loaded.size(), embedded.size());
  for (size_t i = 0; i < loaded.size(); ++i) {
    EXPECT_EQ(loaded[i].name, embedded[i].name);
    EXPECT_EQ(loaded[i].sql, embedded[i].sql);
  }
  EXPECT_THAT(pg::LoadMigrations("/nonexistent"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(PostgresConcurrencyTest, ConcurrentSubmissionsOfOneRequestIdCreateOneSweep) {
  ::rib::testing::TruncateAllTables();
  constexpr int kThreads = 6;
  std::vector<std::unique_ptr<PostgresRepository>> repos;
  for (int i = 0; i < kThreads; ++i) repos.push_back(Open());
  std::vector<absl::StatusOr<SubmitResult>> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = repos[i]->SubmitSweep(SmallSweep("same")); });
  }
  for (auto& t : threads) t.join();
  int created = 0;
  for (const auto& r : results) {
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->sweep_id, results[0]->sweep_id);
    EXPECT_EQ(r->jobs_total, 4);
    created += r->existing ? 0 : 1;
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(::rib::testing::QueryOne(PgTestUri(), "SELECT count(*) FROM sweeps"), "1");
  EXPECT_EQ(::rib::testing::QueryOne(PgTestUri(), "SELECT count(*) FROM jobs"), "4");
}

TEST(PostgresConcurrencyTest, ConcurrentAcquirersNeverGetTheSameJob) {
  ::rib::testing::TruncateAllTables();
  auto setup = Open();
  constexpr int kSweeps = 6;  // 3 QUEUED jobs each
  for (int i = 0; i < kSweeps; ++i) {
    ASSERT_THAT(setup->SubmitSweep(SmallSweep("", "s" + std::to_string(i))), IsOk());
  }
  constexpr int kWorkers = 6;
  std::vector<std::unique_ptr<PostgresRepository>> repos;
  std::vector<std::string> workers;
  for (int i = 0; i < kWorkers; ++i) {
    repos.push_back(Open());
    WorkerRegistration reg;
    reg.name = "w" + std::to_string(i);
    reg.principal = kWorkerUser;
    reg.devices = {{"cpu", 8, 0}};
    reg.datasets = kAllDatasets;
    auto w = repos.back()->RegisterWorker(reg);
    ASSERT_THAT(w, IsOk());
    workers.push_back(w->id);
  }
  std::vector<std::vector<std::string>> got(kWorkers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkers; ++i) {
    threads.emplace_back([&, i] {
      for (;;) {
        auto lease = repos[i]->AcquireJob(kWorkerUser, workers[i], 8, "cpu");
        if (!lease.ok() || !lease->has_value()) break;
        got[i].push_back((*lease)->job_id);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  size_t total = 0;
  for (const auto& g : got) {
    total += g.size();
    all.insert(g.begin(), g.end());
  }
  EXPECT_EQ(total, 3u * kSweeps);
  EXPECT_EQ(all.size(), total);  // no job handed out twice
  EXPECT_EQ(::rib::testing::QueryOne(PgTestUri(),
                                     "SELECT count(*) FROM jobs WHERE attempt > 1"),
            "0");
}

TEST(PostgresConcurrencyTest, NotifyReachesAnotherRepository) {
  ::rib::testing::TruncateAllTables();
  auto writer = Open();
  // The notifier of another coordinator: LISTENing once Create returns.
  RIB_ASSERT_OK_AND_ASSIGN(auto watcher, PgChangeNotifier::Create(PgTestUri()));
  const uint64_t seen = watcher->Counter(Topic::kEvents);
  const uint64_t queued = watcher->Counter(Topic::kQueue);
  ASSERT_THAT(writer->SubmitSweep(SmallSweep("")), IsOk());
  EXPECT_GT(watcher->WaitForChange(Topic::kEvents, seen, absl::Seconds(10)), seen);
  EXPECT_GT(watcher->WaitForChange(Topic::kQueue, queued, absl::Seconds(10)), queued);
  // Nothing queued: the queue counter stays (a long-poll is not woken for nothing).
  const uint64_t after = watcher->Counter(Topic::kQueue);
  RIB_ASSERT_OK_AND_ASSIGN(SweepList sweeps, writer->ListSweeps(0, ""));
  ASSERT_THAT(sweeps.sweeps, SizeIs(1));
  JobFilter f;
  RIB_ASSERT_OK_AND_ASSIGN(JobList jobs, writer->ListJobs(f));
  EXPECT_EQ(watcher->WaitForChange(Topic::kQueue, after, absl::Milliseconds(300)), after);
  EXPECT_THAT(PgChangeNotifier::Create("postgresql://nobody@127.0.0.1:1/none"),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(PostgresStateMachineTest, TheSqlGuardIsTheStateMachines) {
  ::rib::testing::TruncateAllTables();
  auto repo = Open();
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo->SubmitSweep(SmallSweep("")));
  JobFilter f;
  f.sweep_id = r.sweep_id;
  RIB_ASSERT_OK_AND_ASSIGN(JobList list, repo->ListJobs(f));
  const Job& lpft = list.jobs[3];  // PENDING (waits for lp)
  ASSERT_EQ(lpft.state, JobState::kPending);
  pqxx::connection conn(PgTestUri());
  {
    pqxx::work tx(conn);
    // PENDING cannot be LEASED: refused, naming both states, nothing written.
    EXPECT_THAT(pg::SetJobState(tx, {lpft.id, r.sweep_id, lpft.key}, JobState::kLeased,
                                "", absl::Now()),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("PENDING cannot change to LEASED")));
    // PENDING may become CANCELLED.
    EXPECT_THAT(pg::SetJobState(tx, {lpft.id, r.sweep_id, lpft.key}, JobState::kCancelled,
                                "", absl::Now()),
                IsOk());
    tx.abort();
  }
  RIB_ASSERT_OK_AND_ASSIGN(Job again, repo->GetJob(lpft.id));
  EXPECT_EQ(again.state, JobState::kPending);
}

TEST(PostgresDataLossTest, StoredValuesThatDoNotParseAreDataLoss) {
  ::rib::testing::TruncateAllTables();
  auto repo = Open();
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo->SubmitSweep(SmallSweep("")));
  auto exec = [](const std::string& sql) {
    pqxx::connection c(PgTestUri());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  };
  // An event whose job state is not one rib knows.
  exec("UPDATE events SET job_state = 'QUEUEDX' WHERE id = (SELECT min(id) FROM events)");
  EXPECT_THAT(repo->ListEvents(r.sweep_id, 0, 100),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("QUEUEDX")));
  // A job state (the CHECK constraint lifted, as a newer schema or a hand edit might).
  exec("ALTER TABLE jobs DROP CONSTRAINT jobs_state_check");
  exec("UPDATE jobs SET state = 'PAUSED' WHERE key = 'm/pre'");
  EXPECT_THAT(repo->GetSweep(r.sweep_id),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("PAUSED")));
  JobFilter f;
  f.sweep_id = r.sweep_id;
  EXPECT_THAT(repo->ListJobs(f), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(repo->GetMatrixJobs(r.sweep_id), StatusIs(absl::StatusCode::kDataLoss));
  ::rib::testing::TruncateAllTables();
  exec(
      "ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('PENDING',"
      " 'QUEUED', 'LEASED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'))");
}

// A worker of the test's worker user with `devices` CPU slots and every dataset.
WorkerRegistration CpuWorker(int devices) {
  WorkerRegistration reg;
  reg.principal = kWorkerUser;
  reg.devices = {{"cpu", devices, 0}};
  reg.datasets = kAllDatasets;
  return reg;
}

TEST(PostgresConcurrencyTest, TwoExpirersHandleEachLeaseOnce) {
  ::rib::testing::TruncateAllTables();
  scheduling::FakeClock clock;
  auto a = Open(&clock);
  auto b = Open(&clock);
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, a->SubmitSweep(SmallSweep("")));
  const WorkerRegistration reg = CpuWorker(8);
  RIB_ASSERT_OK_AND_ASSIGN(Worker w, a->RegisterWorker(reg));
  for (int i = 0; i < 3; ++i) ASSERT_THAT(a->AcquireJob(kWorkerUser, w.id, 8, "cpu"), IsOk());
  clock.Advance(absl::Minutes(5));
  absl::StatusOr<int> na, nb;
  std::thread ta([&] { na = a->ExpireLeases(); });
  std::thread tb([&] { nb = b->ExpireLeases(); });
  ta.join();
  tb.join();
  ASSERT_THAT(na, IsOk());
  ASSERT_THAT(nb, IsOk());
  EXPECT_EQ(*na + *nb, 3);
  EXPECT_EQ(::rib::testing::QueryOne(
                PgTestUri(),
                "SELECT count(*) FROM events WHERE job_state = 'QUEUED' AND "
                "error LIKE 'lease of attempt 1 expired%'"),
            "3");
}

// A hand-out says how long its job waited in QUEUED (rib_job_queue_wait_seconds):
// since its submission, and after a lost lease since its return to the queue.
TEST(PostgresQueueWaitTest, LeaseCarriesTheTimeSinceTheJobWasQueued) {
  ::rib::testing::TruncateAllTables();
  scheduling::FakeClock clock;
  auto repo = Open(&clock);
  RIB_ASSERT_OK_AND_ASSIGN(SubmitResult r, repo->SubmitSweep(SmallSweep("")));
  const WorkerRegistration reg = CpuWorker(1);
  RIB_ASSERT_OK_AND_ASSIGN(Worker w, repo->RegisterWorker(reg));
  clock.Advance(absl::Seconds(42));
  RIB_ASSERT_OK_AND_ASSIGN(std::optional<domain::Lease> first,
                           repo->AcquireJob(kWorkerUser, w.id, 1, "cpu"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->queued_for, absl::Seconds(42));
  clock.Advance(absl::Minutes(5));  // the lease expires: the job is queued again
  RIB_ASSERT_OK_AND_ASSIGN(int expired, repo->ExpireLeases());
  EXPECT_EQ(expired, 1);
  clock.Advance(absl::Seconds(7));
  RIB_ASSERT_OK_AND_ASSIGN(Worker again, repo->RegisterWorker(reg));
  std::optional<domain::Lease> second;
  // The other queued jobs were queued at submission; find the requeued one.
  for (int i = 0; i < 10; ++i) {
    RIB_ASSERT_OK_AND_ASSIGN(second, repo->AcquireJob(kWorkerUser, again.id, 1, "cpu"));
    if (!second.has_value() || second->job_id == first->job_id) break;
  }
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->job_id, first->job_id);
  EXPECT_EQ(second->queued_for, absl::Seconds(7));
}

}  // namespace
}  // namespace rib::storage::contract
