// rib-test-labels: e2e
// Chaos (issue 14): one small sweep (several jobs of several epochs, with checkpoints)
// runs undisturbed, then again while a seeded schedule of faults hits the system at
// random moments: worker agents and rank processes are kill -9ed (the agents restarted),
// a worker agent is SIGSTOPped past its lease and resumed, the coordinator is kill -9ed
// and restarted on the same port, and PostgreSQL is restarted in immediate mode, twice.
// Asserted: the chaos sweep ends SUCCEEDED with the undisturbed matrix bit for bit, no
// job used more attempts than the faults that hit it, and no result is stored twice.
// It runs on a PostgreSQL of its own (it restarts it). Skipped (exit 77) without
// RIB_TEST_PG_ADMIN_URL, like every e2e test. RIB_CHAOS_SEED picks another schedule.
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::e2e {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;

constexpr int kMaxAttempts = 3;
// Longer than the other e2e tests' 3 s: a coordinator or PostgreSQL restart (about a
// second) must not make the workers fence (3/4 of it) their healthy jobs.
constexpr absl::Duration kChaosLeaseTimeout = absl::Seconds(6);

// One model, ft and lp on two datasets, and the pre job: 5 jobs, 3 epochs each, so
// every fine-tune job writes checkpoints its retries resume from.
std::string SweepYaml() {
  return absl::StrCat(R"(name: chaos
suite: fmnist-rib
max_attempts: )", kMaxAttempts, R"(
models:
  - name: tiny
    arch: fmnist_vit
    weights: models/tiny.safetensors
methods: [ft, lp]
finetune_datasets: [fmnist-v2, fmnist-r]
eval_datasets: [fmnist-val, fmnist-v2, fmnist-r]
training:
  lr: 0.01
  batch_size: 64
  warmup_steps: 2
  epochs: 3
  seed: 0
)");
}

enum class FaultKind { kKillAgent, kKillRank, kStopAgent, kKillCoordinator, kRestartPostgres };

const char* FaultName(FaultKind k) {
  switch (k) {
    case FaultKind::kKillAgent:
      return "kill -9 a worker agent (and restart it)";
    case FaultKind::kKillRank:
      return "kill -9 a rank process";
    case FaultKind::kStopAgent:
      return "SIGSTOP a worker agent past its lease, then SIGCONT";
    case FaultKind::kKillCoordinator:
      return "kill -9 the coordinator (and restart it on its port)";
    case FaultKind::kRestartPostgres:
      return "restart PostgreSQL in immediate mode";
  }
  return "?";
}

struct Fault {
  FaultKind kind;
  absl::Duration after;  // the wait before it, from the end of the previous fault
  int pick;              // which candidate (worker, rank) it hits, modulo their count
};

// The seeded schedule: the faults of issue 14, in a random order, at random gaps.
std::vector<Fault> Schedule(uint32_t seed) {
  std::vector<FaultKind> kinds = {FaultKind::kKillAgent,       FaultKind::kKillAgent,
                                  FaultKind::kKillRank,        FaultKind::kKillRank,
                                  FaultKind::kStopAgent,       FaultKind::kKillCoordinator,
                                  FaultKind::kRestartPostgres, FaultKind::kRestartPostgres};
  std::mt19937 rng(seed);
  std::shuffle(kinds.begin(), kinds.end(), rng);
  std::uniform_int_distribution<int> gap_ms(1000, 3500);
  std::vector<Fault> out;
  for (FaultKind k : kinds) {
    const int gap = gap_ms(rng);
    out.push_back({k, absl::Milliseconds(gap), static_cast<int>(rng() % 1000)});
  }
  return out;
}

class ChaosTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SkipUnlessPostgres();
  }

  // One system: its own database, artifact root (with the model), coordinator and two
  // workers w1, w2 (cpu:1 each).
  struct System {
    std::unique_ptr<TestDatabase> db;
    std::unique_ptr<ScratchDir> dir;
    CoordinatorProcess coordinator;
    std::unique_ptr<Client> client;
    std::map<std::string, std::unique_ptr<Child>> workers;
    int coordinator_starts = 1;
    std::map<std::string, int> worker_starts;
    std::string artifacts() const { return dir->Join("artifacts"); }
    std::string Log(const std::string& name) const { return dir->Join(name + ".log"); }
  };

  void Start(System* s, const std::string& admin_url) {
    auto db = TestDatabase::Create(admin_url);
    ASSERT_THAT(db.status(), IsOk());
    s->db = *std::move(db);
    s->dir = std::make_unique<ScratchDir>();
    fs::create_directories(s->artifacts() + "/models");
    fs::copy_file(data_.Join("tiny.safetensors"), s->artifacts() + "/models/tiny.safetensors");
    auto c = StartCoordinator(s->db->url(), s->artifacts(), s->Log("coordinator-1"),
                              CoordinatorFlags());
    ASSERT_THAT(c.status(), IsOk());
    s->coordinator = *std::move(c);
    s->client = std::make_unique<Client>(s->coordinator.address, s->coordinator.user_token);
    for (const char* name : {"w1", "w2"}) ASSERT_NO_FATAL_FAILURE(StartWorkerOf(s, name));
  }

  static std::vector<std::string> CoordinatorFlags() {
    return {absl::StrCat("--lease_timeout=", absl::FormatDuration(kChaosLeaseTimeout))};
  }

  void StartWorkerOf(System* s, const std::string& name) {
    const int n = ++s->worker_starts[name];
    auto w = StartWorker(s->coordinator.address, name, data_.Join("data"), s->artifacts(),
                         s->Log(absl::StrCat(name, "-", n)), "cpu:1",
                         {"--token-file=" + s->coordinator.worker_token_file});
    ASSERT_THAT(w.status(), IsOk());
    s->workers[name] = *std::move(w);
  }

  // Every log of the system, each cut to its last lines.
  static std::string Logs(const System& s) {
    std::string out;
    for (const auto& entry : fs::directory_iterator(s.dir->path())) {
      if (entry.path().extension() != ".log") continue;
      std::ifstream f(entry.path());
      std::stringstream ss;
      ss << f.rdbuf();
      std::string all = ss.str();
      if (all.size() > 4000) all = "..." + all.substr(all.size() - 4000);
      absl::StrAppend(&out, "==== ", entry.path().filename().string(), " ====\n", all, "\n");
    }
    return out;
  }

  // Job id -> key of every job of the sweep.
  static std::map<std::string, std::string> Keys(Client& client, const std::string& sweep) {
    std::map<std::string, std::string> out;
    auto jobs = client.Jobs(sweep);
    if (jobs.ok()) {
      for (const v1::Job& j : *jobs) {
        out[j.id()] = j.spec().method().kind() == "pre"
                          ? "tiny/pre"
                          : absl::StrCat("tiny/", j.spec().method().name(), "/",
                                         j.spec().finetune_dataset());
      }
    }
    return out;
  }

  // The jobs worker `name` holds a lease of now, straight from the database.
  static std::set<std::string> JobsOn(const System& s, const std::string& name) {
    std::set<std::string> out;
    try {
      pqxx::connection c(s.db->url());
      pqxx::nontransaction tx(c);
      for (const auto& row : tx.exec_params(
               "SELECT j.id FROM jobs j JOIN workers w ON w.id = j.worker_id"
               " WHERE w.name = $1 AND j.state IN ('LEASED', 'RUNNING')",
               name)) {
        out.insert(row[0].as<std::string>());
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cannot list the jobs of %s: %s\n", name.c_str(), e.what());
    }
    return out;
  }

  // Workers that hold a lease now (waits up to 30 s for one).
  static std::vector<std::string> BusyWorkers(const System& s) {
    const absl::Time until = absl::Now() + absl::Seconds(30);
    std::vector<std::string> busy;
    while (busy.empty() && absl::Now() < until) {
      for (const auto& [name, child] : s.workers) {
        if (!JobsOn(s, name).empty()) busy.push_back(name);
      }
      if (busy.empty()) absl::SleepFor(absl::Milliseconds(100));
    }
    return busy;
  }

  // Rank processes of the system and the job each runs (from its --job-file path,
  // which names the job's attempt folder); waits up to 30 s for one.
  static std::map<pid_t, std::string> Ranks(const System& s,
                                            const std::map<std::string, std::string>& keys) {
    const absl::Time until = absl::Now() + absl::Seconds(30);
    std::map<pid_t, std::string> out;
    while (out.empty() && absl::Now() < until) {
      for (pid_t p : FindProcesses({"--job-file", s.artifacts()})) {
        std::ifstream f(absl::StrCat("/proc/", p, "/cmdline"));
        std::string cmdline((std::istreambuf_iterator<char>(f)),
                            std::istreambuf_iterator<char>());
        for (const auto& [id, key] : keys) {
          if (absl::StrContains(cmdline, id)) out[p] = id;
        }
      }
      if (out.empty()) absl::SleepFor(absl::Milliseconds(50));
    }
    return out;
  }

  static std::map<std::string, std::string> RunToTheEnd(System& s, const std::string& sweep) {
    auto state = s.client->WaitForSweep(sweep, absl::Minutes(6));
    EXPECT_THAT(state.status(), IsOk()) << Logs(s);
    EXPECT_EQ(state.value_or(v1::SWEEP_STATE_UNSPECIFIED), v1::SWEEP_STATE_SUCCEEDED)
        << Logs(s);
    auto matrix = s.client->Matrix(sweep);
    EXPECT_THAT(matrix.status(), IsOk());
    return matrix.ok() ? MatrixCells(*matrix) : std::map<std::string, std::string>();
  }

  static ScratchDir data_;
};

ScratchDir ChaosTest::data_;

TEST_F(ChaosTest, ASweepUnderFaultsEndsWithTheUndisturbedMatrix) {
  const absl::Time prepare = absl::Now();
  ASSERT_THAT(PrepareDataAndModel(data_.Join("data"), data_.Join("tiny.safetensors")),
              IsOk());
  ScratchDir pg_dir;
  auto cluster = PgCluster::Start(pg_dir.Join("pg"));
  ASSERT_THAT(cluster.status(), IsOk());
  std::fprintf(stderr, "data, weights and PostgreSQL ready in %s\n",
               absl::FormatDuration(absl::Now() - prepare).c_str());

  uint32_t seed = 14;
  if (const char* s = std::getenv("RIB_CHAOS_SEED"); s != nullptr && *s != '\0') {
    ASSERT_TRUE(absl::SimpleAtoi(s, &seed)) << "RIB_CHAOS_SEED=" << s;
  }
  const std::vector<Fault> schedule = Schedule(seed);
  std::fprintf(stderr, "fault schedule (seed %u):\n", seed);
  for (size_t i = 0; i < schedule.size(); ++i) {
    std::fprintf(stderr, "  %zu. after %s: %s\n", i + 1,
                 absl::FormatDuration(schedule[i].after).c_str(),
                 FaultName(schedule[i].kind));
  }

  // 1. Undisturbed.
  std::map<std::string, std::string> expected;
  {
    System clean;
    ASSERT_NO_FATAL_FAILURE(Start(&clean, (*cluster)->admin_url()));
    auto sweep = clean.client->Submit(SweepYaml());
    ASSERT_THAT(sweep.status(), IsOk());
    const absl::Time start = absl::Now();
    expected = RunToTheEnd(clean, *sweep);
    ASSERT_FALSE(HasFailure());
    std::fprintf(stderr, "undisturbed sweep done in %s\n",
                 absl::FormatDuration(absl::Now() - start).c_str());
    ASSERT_EQ(expected.size(), 18u);  // (baseline + 2 rows) per method, 3 columns
  }

  // 2. The same sweep under the schedule.
  System chaos;
  ASSERT_NO_FATAL_FAILURE(Start(&chaos, (*cluster)->admin_url()));
  // Its reads span the faults (a GetSweep right after a coordinator restart found the
  // old connection broken: "UNAVAILABLE: Broken pipe").
  chaos.client->RetryReadsWhileUnavailable(absl::Seconds(20));
  auto sweep = chaos.client->Submit(SweepYaml());
  ASSERT_THAT(sweep.status(), IsOk());
  const std::map<std::string, std::string> keys = Keys(*chaos.client, *sweep);
  ASSERT_EQ(keys.size(), 5u);
  const absl::Time start = absl::Now();
  std::map<std::string, int> hits;         // faults that stopped an attempt of the job
  std::map<std::string, int> rank_kills;   // of which: its rank was killed
  int control_plane_faults = 0;
  std::mt19937 rng(seed);
  for (size_t i = 0; i < schedule.size(); ++i) {
    const Fault& f = schedule[i];
    absl::SleepFor(f.after);
    auto now = chaos.client->GetSweep(*sweep);
    ASSERT_THAT(now.status(), IsOk());
    ASSERT_EQ(now->state(), v1::SWEEP_STATE_ACTIVE)
        << "the sweep ended before fault " << i + 1 << ": make its jobs longer";
    std::string what;
    switch (f.kind) {
      case FaultKind::kKillAgent:
      case FaultKind::kStopAgent: {
        const std::vector<std::string> busy = BusyWorkers(chaos);
        ASSERT_FALSE(busy.empty()) << "no worker had a job for fault " << i + 1;
        const std::string name = busy[f.pick % busy.size()];
        Child& agent = *chaos.workers.at(name);
        std::set<std::string> on = JobsOn(chaos, name);
        const bool kill = f.kind == FaultKind::kKillAgent;
        agent.Signal(kill ? SIGKILL : SIGSTOP);
        if (kill) ASSERT_TRUE(agent.Wait(absl::Seconds(5)).has_value());
        // A lease the coordinator grants it in the next second (an AcquireJob it was
        // already waiting in) is hit too.
        absl::SleepFor(absl::Milliseconds(1200));
        for (const std::string& id : JobsOn(chaos, name)) on.insert(id);
        for (const std::string& id : on) ++hits[id];
        if (kill) {
          ASSERT_NO_FATAL_FAILURE(StartWorkerOf(&chaos, name));
        } else {
          absl::SleepFor(kChaosLeaseTimeout + absl::Seconds(2) - absl::Milliseconds(1200));
          agent.Signal(SIGCONT);
        }
        std::vector<std::string> labels;
        for (const std::string& id : on) labels.push_back(keys.at(id));
        what = absl::StrCat(name, " holding [", absl::StrJoin(labels, ", "), "]");
        break;
      }
      case FaultKind::kKillRank: {
        const std::map<pid_t, std::string> ranks = Ranks(chaos, keys);
        ASSERT_FALSE(ranks.empty()) << "no rank process for fault " << i + 1;
        auto it = ranks.begin();
        std::advance(it, f.pick % ranks.size());
        ::kill(it->first, SIGKILL);
        ++hits[it->second];
        ++rank_kills[it->second];
        what = absl::StrCat("pid ", it->first, " of ", keys.at(it->second));
        break;
      }
      case FaultKind::kKillCoordinator: {
        chaos.coordinator.child->Signal(SIGKILL);
        ASSERT_TRUE(chaos.coordinator.child->Wait(absl::Seconds(5)).has_value());
        const absl::Time down = absl::Now();
        ASSERT_THAT(RestartCoordinator(&chaos.coordinator, chaos.db->url(), chaos.artifacts(),
                                       chaos.Log(absl::StrCat("coordinator-",
                                                              ++chaos.coordinator_starts)),
                                       CoordinatorFlags()),
                    IsOk());
        ++control_plane_faults;
        what = absl::StrCat("back on ", chaos.coordinator.address, " after ",
                            absl::FormatDuration(absl::Now() - down));
        break;
      }
      case FaultKind::kRestartPostgres: {
        const absl::Time down = absl::Now();
        ASSERT_THAT((*cluster)->RestartImmediate(), IsOk());
        ++control_plane_faults;
        what = absl::StrCat("back after ", absl::FormatDuration(absl::Now() - down));
        break;
      }
    }
    std::fprintf(stderr, "t=%6.1fs fault %zu: %s: %s\n",
                 absl::ToDoubleSeconds(absl::Now() - start), i + 1, FaultName(f.kind),
                 what.c_str());
  }
  const std::map<std::string, std::string> got = RunToTheEnd(chaos, *sweep);
  ASSERT_FALSE(HasFailure());
  std::fprintf(stderr, "chaos sweep done in %s\n",
               absl::FormatDuration(absl::Now() - start).c_str());

  // The matrix is the undisturbed one, bit for bit (same binary, machine and threads).
  EXPECT_EQ(got, expected);

  // Attempts: a hand-out per fault that stopped the job, plus one per lease whose
  // AcquireJob answer a fault lost on the way (requeued at no cost);
  // only the rank kills count against max_attempts (losing a worker does not).
  pqxx::connection c(chaos.db->url());
  pqxx::nontransaction tx(c);
  int orphans_total = 0;
  std::fprintf(stderr, "%-22s %8s %5s %8s %8s %12s\n", "job", "attempts", "hits",
               "rank", "orphaned", "counted");
  for (const auto& [id, key] : keys) {
    pqxx::row j = tx.exec_params1(
        "SELECT attempt, max_attempts, state FROM jobs WHERE id = $1", id);
    const int attempts = j[0].as<int>();
    // Every attempt that did not count gave the job one more (retry_policy.h).
    const int counted = attempts - 1 - (j[1].as<int>() - kMaxAttempts);
    const int orphaned = tx.exec_params1("SELECT count(*) FROM events WHERE job_id = $1"
                                         " AND error LIKE '%never received it%'",
                                         id)[0]
                             .as<int>();
    orphans_total += orphaned;
    std::fprintf(stderr, "%-22s %8d %5d %8d %8d %12d\n", key.c_str(), attempts, hits[id],
                 rank_kills[id], orphaned, counted);
    int killed_reports = 0;
    for (const auto& e : tx.exec_params(
             "SELECT DISTINCT ON (error) error, id FROM events WHERE job_id = $1"
             " AND kind = 'state' AND error <> '' ORDER BY error, id",
             id)) {
      const std::string error = e[0].as<std::string>();
      std::fprintf(stderr, "    %s\n", error.substr(0, 160).c_str());
      if (absl::StrContains(error, "killed by signal 9")) ++killed_reports;
    }
    // A killed rank's attempt ends as the failure its worker reports, not as a lease
    // the coordinator takes for lost.
    EXPECT_EQ(killed_reports > 0, rank_kills[id] > 0) << key;
    EXPECT_EQ(j[2].as<std::string>(), "SUCCEEDED") << key;
    EXPECT_LE(attempts, 1 + hits[id] + orphaned) << key;
    EXPECT_LE(counted, rank_kills[id]) << key;
  }
  // A lost answer needs a fault: a dead or stopped agent, coordinator or database.
  EXPECT_LE(orphans_total, static_cast<int>(schedule.size()));

  // One result per (job, dataset, subset): nothing stored twice, nothing missing.
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM (SELECT 1 FROM results"
                     " GROUP BY job_id, dataset, subset HAVING count(*) > 1) d")[0]
                .as<int>(),
            0);
  for (const auto& [id, key] : keys) {
    auto job = chaos.client->GetJob(id);
    ASSERT_THAT(job.status(), IsOk());
    std::map<std::string, int> per_dataset;
    for (const v1::Accuracy& a : job->results()) {
      if (a.subset().empty()) ++per_dataset[a.dataset()];
    }
    EXPECT_EQ(per_dataset, (std::map<std::string, int>{
                               {"fmnist-r", 1}, {"fmnist-v2", 1}, {"fmnist-val", 1}}))
        << key;
    // Every attempt's checkpoints went away with the success.
    EXPECT_FALSE(fs::exists(chaos.artifacts() + "/checkpoints/" + job->hash())) << key;
  }
  int applied = 0;
  for (const auto& [id, n] : hits) applied += n;
  std::fprintf(stderr,
               "faults: %zu applied (%d control-plane); %d job attempts stopped by them; "
               "%d orphaned leases requeued\n",
               schedule.size(), control_plane_faults, applied, orphans_total);
}

}  // namespace
}  // namespace rib::e2e
