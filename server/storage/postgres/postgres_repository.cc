#include "server/storage/postgres/postgres_repository.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/scheduling/job_state_machine.h"
#include "server/storage/postgres/pg_util.h"
#include "server/storage/repository_util.h"
#include "spec/job_json.h"

namespace rib::storage {
namespace {

using domain::JobReport;
using domain::JobState;
using domain::JobStateName;
using domain::SweepState;
using domain::SweepStateName;
using pg::ArrayLiteral;
using pg::SplitUnitSeparated;
using pg::TimeFromMicros;
using pg::TimeParam;

constexpr char kChannel[] = "rib_events";
constexpr char kQueueChannel[] = "rib_queue";  // a job became QUEUED
constexpr int kEventLockSpace = 0x726962;      // first key of the per-sweep event lock

// Columns of a job row, in the order RowToJob reads them.
constexpr char kJobColumns[] =
    "j.id, j.sweep_id, j.key, j.hash, j.spec::text, j.state, j.attempt, j.max_attempts,"
    " COALESCE(j.worker_id, ''), j.error, COALESCE(j.reused_from, ''), j.priority,"
    " j.owner, j.progress, j.last_checkpoint, j.final_weights,"
    " (extract(epoch from j.created_at) * 1000000)::bigint,"
    " (extract(epoch from j.updated_at) * 1000000)::bigint,"
    " COALESCE((SELECT string_agg(d.depends_on, chr(31) ORDER BY x.seq) FROM job_deps d"
    "   JOIN jobs x ON x.id = d.depends_on WHERE d.job_id = j.id), '')";

constexpr char kSweepColumns[] =
    "s.id, s.name, s.owner, s.state, s.priority, s.max_attempts,"
    " (extract(epoch from s.created_at) * 1000000)::bigint, s.yaml,"
    " COALESCE(s.client_request_id, ''), s.suite,"
    " array_to_string(s.models, chr(31)), array_to_string(s.methods, chr(31)),"
    " array_to_string(s.finetune_datasets, chr(31)),"
    " array_to_string(s.eval_datasets, chr(31)), s.seq";

constexpr char kWorkerColumns[] =
    "w.id, w.name, w.state, w.device_kind, w.device_count, w.device_memory,"
    " array_to_string(w.datasets, chr(31)), array_to_string(w.labels, chr(31)),"
    " (extract(epoch from w.last_heartbeat) * 1000000)::bigint, w.free_devices,"
    " COALESCE((SELECT string_agg(j.id, chr(31) ORDER BY j.seq) FROM jobs j"
    "   WHERE j.worker_id = w.id AND j.state IN ('LEASED', 'RUNNING')), '')";

absl::StatusOr<Job> RowToJob(const pqxx::row& r) {
  Job j;
  j.id = r[0].as<std::string>();
  j.sweep_id = r[1].as<std::string>();
  j.key = r[2].as<std::string>();
  j.hash = r[3].as<std::string>();
  absl::StatusOr<JobSpec> spec = rib::spec::JobSpecFromJson(r[4].as<std::string>());
  if (!spec.ok()) {
    return absl::DataLossError(absl::StrCat("job ", j.id, ": ", spec.status().message()));
  }
  j.spec = *std::move(spec);
  j.state = domain::ParseJobState(r[5].as<std::string>()).value_or(JobState::kFailed);
  j.attempt = r[6].as<int>();
  j.max_attempts = r[7].as<int>();
  j.worker_id = r[8].as<std::string>();
  j.error = r[9].as<std::string>();
  j.reused_from = r[10].as<std::string>();
  j.priority = r[11].as<int>();
  j.owner = r[12].as<std::string>();
  j.progress = r[13].as<double>();
  j.last_checkpoint = r[14].as<std::string>();
  j.final_weights = r[15].as<std::string>();
  j.created_at = TimeFromMicros(r[16].as<int64_t>());
  j.updated_at = TimeFromMicros(r[17].as<int64_t>());
  j.depends_on = SplitUnitSeparated(r[18].as<std::string>());
  return j;
}

Sweep RowToSweep(const pqxx::row& r) {
  Sweep s;
  s.id = r[0].as<std::string>();
  s.name = r[1].as<std::string>();
  s.owner = r[2].as<std::string>();
  s.state = domain::ParseSweepState(r[3].as<std::string>()).value_or(SweepState::kActive);
  s.priority = r[4].as<int>();
  s.max_attempts = r[5].as<int>();
  s.created_at = TimeFromMicros(r[6].as<int64_t>());
  s.yaml = r[7].as<std::string>();
  s.client_request_id = r[8].as<std::string>();
  s.suite = r[9].as<std::string>();
  s.models = SplitUnitSeparated(r[10].as<std::string>());
  s.methods = SplitUnitSeparated(r[11].as<std::string>());
  s.finetune_datasets = SplitUnitSeparated(r[12].as<std::string>());
  s.eval_datasets = SplitUnitSeparated(r[13].as<std::string>());
  return s;
}

Worker RowToWorker(const pqxx::row& r) {
  Worker w;
  w.id = r[0].as<std::string>();
  w.name = r[1].as<std::string>();
  w.state = domain::ParseWorkerState(r[2].as<std::string>())
                .value_or(domain::WorkerState::kActive);
  domain::Device d;
  d.kind = r[3].as<std::string>();
  d.count = r[4].as<int>();
  d.memory_bytes = r[5].as<int64_t>();
  if (d.count > 0) w.devices.push_back(d);
  w.datasets = SplitUnitSeparated(r[6].as<std::string>());
  w.labels = SplitUnitSeparated(r[7].as<std::string>());
  w.last_heartbeat = TimeFromMicros(r[8].as<int64_t>());
  w.free_devices = r[9].as<int>();
  w.running_jobs = SplitUnitSeparated(r[10].as<std::string>());
  return w;
}

// ---- helpers that run inside a transaction ----

void InsertEvent(pqxx::work& tx, const SweepEvent& e, absl::Time now) {
  const char* kind = "state";
  switch (e.kind) {
    case SweepEvent::Kind::kState:
      kind = "state";
      break;
    case SweepEvent::Kind::kProgress:
      kind = "progress";
      break;
    case SweepEvent::Kind::kResult:
      kind = "result";
      break;
    case SweepEvent::Kind::kSweepState:
      kind = "sweep_state";
      break;
  }
  const std::string job_state =
      e.kind == SweepEvent::Kind::kState ? JobStateName(e.job_state) : "";
  const std::string sweep_state =
      e.kind == SweepEvent::Kind::kSweepState ? SweepStateName(e.sweep_state) : "";
  // Per-sweep lock held to commit: event ids of one sweep are then assigned in commit
  // order, so a watcher reading "id > last seen" never skips a late-committing event.
  // Lock order everywhere: sweep row, then job rows, then this lock.
  tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kEventLockSpace,
                 e.sweep_id);
  pqxx::row r = tx.exec_params1(
      "INSERT INTO events (sweep_id, job_id, time, kind, job_state, sweep_state, "
      "job_label,"
      " error, epoch, epochs, step, steps, loss, lr, dataset, subset, correct, total,"
      " skipped) VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
      " $13, $14, $15, $16, $17, $18, $19) RETURNING id",
      e.sweep_id, e.job_id, TimeParam(now), kind, job_state, sweep_state, e.job_label,
      e.error, e.progress.epoch, e.progress.epochs, e.progress.step, e.progress.steps,
      e.progress.loss, e.progress.lr, e.result.dataset, e.result.subset, e.result.correct,
      e.result.total, e.result.skipped);
  tx.exec_params("SELECT pg_notify($1, $2)", kChannel,
                 absl::StrCat(e.sweep_id, ":", r[0].as<int64_t>()));
  // Identical notifications of one transaction are delivered once.
  if (e.kind == SweepEvent::Kind::kState && e.job_state == JobState::kQueued) {
    tx.exec_params("SELECT pg_notify($1, '')", kQueueChannel);
  }
}

void LockSweep(pqxx::work& tx, const std::string& sweep_id) {
  tx.exec_params("SELECT 1 FROM sweeps WHERE id = $1 FOR UPDATE", sweep_id);
}

// Sets a job's state (the caller checked the transition) and records the event.
void SetJobState(pqxx::work& tx, const std::string& job_id, const std::string& sweep_id,
                 const std::string& key, JobState to, const std::string& error,
                 absl::Time now) {
  const bool leased = to == JobState::kLeased || to == JobState::kRunning;
  tx.exec_params(
      "UPDATE jobs SET state = $2, updated_at = $3::timestamptz,"
      " error = CASE WHEN $4 = '' THEN error ELSE $4 END,"
      " lease_expires_at = CASE WHEN $5 THEN lease_expires_at ELSE NULL END"
      " WHERE id = $1",
      job_id, JobStateName(to), TimeParam(now), error, leased);
  SweepEvent e;
  e.sweep_id = sweep_id;
  e.job_id = job_id;
  e.kind = SweepEvent::Kind::kState;
  e.job_state = to;
  e.job_label = key;
  e.error = to == JobState::kFailed || to == JobState::kQueued ? error : "";
  InsertEvent(tx, e, now);
}

std::map<JobState, int> CountsByState(pqxx::work& tx, const std::string& sweep_id) {
  std::map<JobState, int> counts;
  for (const auto& row : tx.exec_params(
           "SELECT state, count(*) FROM jobs WHERE sweep_id = $1 GROUP BY state",
           sweep_id)) {
    if (auto s = domain::ParseJobState(row[0].as<std::string>())) {
      counts[*s] = row[1].as<int>();
    }
  }
  return counts;
}

void RefreshSweepState(pqxx::work& tx, const std::string& sweep_id, absl::Time now) {
  const SweepState state = scheduling::DeriveSweepState(CountsByState(tx, sweep_id));
  pqxx::result r = tx.exec_params(
      "UPDATE sweeps SET state = $2 WHERE id = $1 AND state <> $2 RETURNING id", sweep_id,
      SweepStateName(state));
  if (r.empty() || state == SweepState::kActive) return;
  SweepEvent e;
  e.sweep_id = sweep_id;
  e.kind = SweepEvent::Kind::kSweepState;
  e.sweep_state = state;
  InsertEvent(tx, e, now);
}

// After `job_id` reached SUCCEEDED or FAILED: promote or fail its PENDING dependents.
// The sweep row is locked by the caller, so no other transaction changes these states.
void AfterTerminal(pqxx::work& tx, const std::string& job_id, const std::string& key,
                   JobState state, absl::Time now) {
  if (state == JobState::kSucceeded) {
    pqxx::result ready = tx.exec_params(
        "SELECT j.id, j.sweep_id, j.key FROM jobs j JOIN job_deps d ON d.job_id = j.id"
        " WHERE d.depends_on = $1 AND j.state = 'PENDING' AND NOT EXISTS ("
        "   SELECT 1 FROM job_deps d2 JOIN jobs x ON x.id = d2.depends_on"
        "   WHERE d2.job_id = j.id AND x.state <> 'SUCCEEDED')"
        " ORDER BY j.seq",
        job_id);
    for (const auto& row : ready) {
      SetJobState(tx, row[0].as<std::string>(), row[1].as<std::string>(),
                  row[2].as<std::string>(), JobState::kQueued, "", now);
    }
  } else if (state == JobState::kFailed) {
    pqxx::result dependents = tx.exec_params(
        "SELECT j.id, j.sweep_id, j.key FROM jobs j JOIN job_deps d ON d.job_id = j.id"
        " WHERE d.depends_on = $1 AND j.state = 'PENDING' ORDER BY j.seq",
        job_id);
    for (const auto& row : dependents) {
      const std::string id = row[0].as<std::string>();
      const std::string dep_key = row[2].as<std::string>();
      SetJobState(tx, id, row[1].as<std::string>(), dep_key, JobState::kFailed,
                  absl::StrCat("dependency ", key, " failed"), now);
      AfterTerminal(tx, id, dep_key, JobState::kFailed, now);
    }
  }
}

absl::StatusOr<Sweep> LoadSweep(pqxx::work& tx, const std::string& sweep_id) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", kSweepColumns, " FROM sweeps s WHERE s.id = $1"), sweep_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  Sweep s = RowToSweep(r[0]);
  s.counts = CountsByState(tx, sweep_id);
  return s;
}

bool DepsSucceeded(pqxx::work& tx, const std::string& job_id) {
  return tx
      .exec_params(
          "SELECT 1 FROM job_deps d JOIN jobs x ON x.id = d.depends_on"
          " WHERE d.job_id = $1 AND x.state <> 'SUCCEEDED' LIMIT 1",
          job_id)
      .empty();
}

std::vector<Accuracy> ResultsOf(pqxx::work& tx, const std::string& job_id) {
  std::vector<Accuracy> out;
  for (const auto& row : tx.exec_params("SELECT dataset, subset, correct, total, skipped "
                                        "FROM results WHERE job_id = $1"
                                        " ORDER BY dataset, subset",
                                        job_id)) {
    Accuracy a;
    a.dataset = row[0].as<std::string>();
    a.subset = row[1].as<std::string>();
    a.correct = row[2].as<int64_t>();
    a.total = row[3].as<int64_t>();
    a.skipped = row[4].as<int64_t>();
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PostgresRepository>> PostgresRepository::Create(
    PostgresOptions options) {
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<pg::Pool> pool,
                       pg::Pool::Create(options.uri, options.pool_size));
  std::unique_ptr<PostgresRepository> repo(
      new PostgresRepository(std::move(options), std::move(pool)));
  if (repo->options_.listen)
    repo->listener_ = std::thread([r = repo.get()] { r->ListenLoop(); });
  return repo;
}

PostgresRepository::PostgresRepository(PostgresOptions options,
                                       std::unique_ptr<pg::Pool> pool)
    : options_(std::move(options)),
      clock_(options_.repository.clock != nullptr ? options_.repository.clock
                                                  : scheduling::Clock::Real()),
      pool_(std::move(pool)) {}

PostgresRepository::~PostgresRepository() {
  stop_ = true;
  if (listener_.joinable()) listener_.join();
}

void PostgresRepository::ListenLoop() {
  class Receiver : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const char* channel, ChangeSignal* signal)
        : pqxx::notification_receiver(c, channel), signal_(signal) {}
    void operator()(const std::string&, int) override { signal_->Notify(); }

   private:
    ChangeSignal* signal_;
  };
  while (!stop_) {
    try {
      pqxx::connection conn(options_.uri);
      Receiver events(conn, kChannel, &signal_);
      Receiver queue(conn, kQueueChannel, &queue_signal_);
      // Anything may have happened while we were not listening.
      signal_.Notify();
      queue_signal_.Notify();
      while (!stop_) conn.await_notification(0, 200'000);
    } catch (const std::exception& e) {
      RIB_LOG(WARNING) << "LISTEN connection lost, retrying: " << e.what();
      for (int i = 0; i < 10 && !stop_; ++i) absl::SleepFor(absl::Milliseconds(100));
    }
  }
}

absl::StatusOr<SubmitResult> PostgresRepository::SubmitSweep(const NewSweep& in) {
  RIB_RETURN_IF_ERROR(internal::ValidateNewSweep(in));
  absl::StatusOr<SubmitResult> result = pg::RunTx(
      pool_.get(), "submitting sweep",
      [&](pqxx::work& tx) -> absl::StatusOr<SubmitResult> {
        const absl::Time now = clock_->Now();
        SubmitResult out;
        pqxx::result inserted = tx.exec_params(
            "INSERT INTO sweeps (name, owner, priority, max_attempts, yaml, "
            "client_request_id,"
            " suite, models, methods, finetune_datasets, eval_datasets, created_at)"
            " VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8::text[], $9::text[],"
            " $10::text[], $11::text[], $12::timestamptz)"
            " ON CONFLICT (client_request_id) DO NOTHING RETURNING id",
            in.name, in.owner, in.priority, in.max_attempts, in.yaml,
            in.client_request_id, in.suite, ArrayLiteral(in.models),
            ArrayLiteral(in.methods), ArrayLiteral(in.finetune_datasets),
            ArrayLiteral(in.eval_datasets), TimeParam(now));
        if (inserted.empty()) {
          // Another submission with this request id committed first (possibly
          // concurrently: ON CONFLICT waited for it). Return it and create nothing.
          pqxx::row r = tx.exec_params1(
              "SELECT s.id, count(j.id), count(j.reused_from) FROM sweeps s"
              " LEFT JOIN jobs j ON j.sweep_id = s.id WHERE s.client_request_id = $1"
              " GROUP BY s.id",
              in.client_request_id);
          out.sweep_id = r[0].as<std::string>();
          out.jobs_total = r[1].as<int>();
          out.jobs_reused = r[2].as<int>();
          out.jobs_new = out.jobs_total - out.jobs_reused;
          out.existing = true;
          return out;
        }
        out.sweep_id = inserted[0][0].as<std::string>();
        std::map<std::string, std::pair<std::string, JobState>>
            by_key;  // key → id, state
        for (const NewJob& nj : in.jobs) {
          std::string reused_from, final_weights;
          if (!in.force) {
            pqxx::result prior = tx.exec_params(
                "SELECT id, final_weights FROM jobs WHERE hash = $1 AND state = "
                "'SUCCEEDED'"
                " AND reused_from IS NULL ORDER BY seq LIMIT 1",
                nj.hash);
            if (!prior.empty()) {
              reused_from = prior[0][0].as<std::string>();
              final_weights = prior[0][1].as<std::string>();
            }
          }
          bool deps_ok = true;
          for (const std::string& dep : nj.depends_on) {
            deps_ok = deps_ok && by_key.at(dep).second == JobState::kSucceeded;
          }
          const JobState state =
              scheduling::InitialJobState(!reused_from.empty(), deps_ok);
          pqxx::row r = tx.exec_params1(
              "INSERT INTO jobs (sweep_id, key, hash, spec, model, method, method_kind,"
              " finetune_dataset, datasets, devices, state, max_attempts, reused_from,"
              " final_weights, priority, owner, progress, created_at, updated_at)"
              " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9::text[], $10, $11, $12,"
              " NULLIF($13, ''), $14, $15, $16, $17, $18::timestamptz, $18::timestamptz)"
              " RETURNING id",
              out.sweep_id, nj.key, nj.hash, rib::spec::JobSpecToJson(nj.spec),
              nj.spec.model.name, nj.spec.method.name, nj.spec.method.kind,
              nj.spec.finetune_dataset, ArrayLiteral(internal::JobDatasets(nj.spec)),
              nj.spec.devices, JobStateName(state), in.max_attempts, reused_from,
              final_weights, in.priority, in.owner, reused_from.empty() ? 0.0 : 1.0,
              TimeParam(now));
          const std::string id = r[0].as<std::string>();
          for (const std::string& dep : nj.depends_on) {
            tx.exec_params("INSERT INTO job_deps (job_id, depends_on) VALUES ($1, $2)",
                           id, by_key.at(dep).first);
          }
          by_key[nj.key] = {id, state};
          SweepEvent e;
          e.sweep_id = out.sweep_id;
          e.job_id = id;
          e.kind = SweepEvent::Kind::kState;
          e.job_state = state;
          e.job_label = nj.key;
          InsertEvent(tx, e, now);
          ++out.jobs_total;
          if (reused_from.empty()) {
            ++out.jobs_new;
          } else {
            ++out.jobs_reused;
          }
        }
        RefreshSweepState(tx, out.sweep_id, now);
        return out;
      });
  if (result.ok()) {
    signal_.Notify();
    queue_signal_.Notify();
  }
  return result;
}

absl::StatusOr<Sweep> PostgresRepository::GetSweep(const std::string& sweep_id) {
  return pg::RunTx(pool_.get(), "reading sweep",
                   [&](pqxx::work& tx) { return LoadSweep(tx, sweep_id); });
}

absl::StatusOr<SweepList> PostgresRepository::ListSweeps(int page_size,
                                                         const std::string& page_token) {
  RIB_ASSIGN_OR_RETURN(int64_t before, internal::ParsePageToken(page_token));
  const int n = internal::ClampPageSize(page_size, 50, 1000);
  return pg::RunTx(
      pool_.get(), "listing sweeps", [&](pqxx::work& tx) -> absl::StatusOr<SweepList> {
        SweepList out;
        pqxx::result rows = tx.exec_params(
            absl::StrCat("SELECT ", kSweepColumns,
                         " FROM sweeps s WHERE ($1 = 0 OR s.seq < $1) ORDER BY s.seq DESC"
                         " LIMIT $2"),
            before, n + 1);
        std::map<std::string, size_t> index;  // sweep id → position in out.sweeps
        for (const auto& row : rows) {
          if (static_cast<int>(out.sweeps.size()) == n) {
            out.next_page_token = std::to_string(rows[n - 1][14].as<int64_t>());
            break;
          }
          Sweep s = RowToSweep(row);
          index[s.id] = out.sweeps.size();
          out.sweeps.push_back(std::move(s));
        }
        // Job counts of the whole page in one query (not one per sweep), in the same
        // transaction so they agree with the rows above.
        for (const auto& row :
             tx.exec_params("SELECT sweep_id, state, count(*) FROM jobs WHERE sweep_id IN"
                            " (SELECT s.id FROM sweeps s WHERE ($1 = 0 OR s.seq < $1)"
                            " ORDER BY s.seq DESC LIMIT $2) GROUP BY sweep_id, state",
                            before, n)) {
          auto it = index.find(row[0].as<std::string>());
          auto state = domain::ParseJobState(row[1].as<std::string>());
          if (it != index.end() && state)
            out.sweeps[it->second].counts[*state] = row[2].as<int>();
        }
        return out;
      });
}

absl::StatusOr<Sweep> PostgresRepository::CancelSweep(const std::string& sweep_id) {
  absl::StatusOr<Sweep> out = pg::RunTx(
      pool_.get(), "cancelling sweep", [&](pqxx::work& tx) -> absl::StatusOr<Sweep> {
        const absl::Time now = clock_->Now();
        LockSweep(tx, sweep_id);
        RIB_RETURN_IF_ERROR(LoadSweep(tx, sweep_id).status());
        for (const auto& row : tx.exec_params(
                 "SELECT id, key FROM jobs WHERE sweep_id = $1 AND state NOT IN"
                 " ('SUCCEEDED', 'FAILED', 'CANCELLED') ORDER BY seq FOR UPDATE",
                 sweep_id)) {
          SetJobState(tx, row[0].as<std::string>(), sweep_id, row[1].as<std::string>(),
                      JobState::kCancelled, "", now);
        }
        RefreshSweepState(tx, sweep_id, now);
        return LoadSweep(tx, sweep_id);
      });
  if (out.ok()) {
    signal_.Notify();
    queue_signal_.Notify();
  }
  return out;
}

absl::StatusOr<Sweep> PostgresRepository::RetrySweep(const std::string& sweep_id) {
  absl::StatusOr<Sweep> out = pg::RunTx(
      pool_.get(), "retrying sweep", [&](pqxx::work& tx) -> absl::StatusOr<Sweep> {
        const absl::Time now = clock_->Now();
        LockSweep(tx, sweep_id);
        RIB_ASSIGN_OR_RETURN(Sweep sweep, LoadSweep(tx, sweep_id));
        for (const auto& row :
             tx.exec_params("SELECT id, key FROM jobs WHERE sweep_id = $1 AND state IN"
                            " ('FAILED', 'CANCELLED') ORDER BY seq FOR UPDATE",
                            sweep_id)) {
          const std::string id = row[0].as<std::string>();
          tx.exec_params(
              "UPDATE jobs SET max_attempts = attempt + $2, error = '', worker_id = NULL"
              " WHERE id = $1",
              id, sweep.max_attempts);
          SetJobState(tx, id, sweep_id, row[1].as<std::string>(),
                      DepsSucceeded(tx, id) ? JobState::kQueued : JobState::kPending, "",
                      now);
        }
        RefreshSweepState(tx, sweep_id, now);
        return LoadSweep(tx, sweep_id);
      });
  if (out.ok()) {
    signal_.Notify();
    queue_signal_.Notify();
  }
  return out;
}

absl::StatusOr<JobList> PostgresRepository::ListJobs(const JobFilter& filter) {
  RIB_ASSIGN_OR_RETURN(int64_t after, internal::ParsePageToken(filter.page_token));
  const int n = internal::ClampPageSize(filter.page_size, 500, 5000);
  const std::string state = filter.state ? JobStateName(*filter.state) : "";
  return pg::RunTx(
      pool_.get(), "listing jobs", [&](pqxx::work& tx) -> absl::StatusOr<JobList> {
        JobList out;
        const char* where =
            " WHERE ($1 = '' OR j.sweep_id = $1) AND ($2 = '' OR j.state = $2)";
        out.total = tx.exec_params1(absl::StrCat("SELECT count(*) FROM jobs j", where),
                                    filter.sweep_id, state)[0]
                        .as<int>();
        pqxx::result rows =
            tx.exec_params(absl::StrCat("SELECT ", kJobColumns, ", j.seq FROM jobs j",
                                        where, " AND j.seq > $3 ORDER BY j.seq LIMIT $4"),
                           filter.sweep_id, state, after, n + 1);
        for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
          if (i == n) {
            out.next_page_token = std::to_string(rows[n - 1][19].as<int64_t>());
            break;
          }
          RIB_ASSIGN_OR_RETURN(Job job, RowToJob(rows[i]));
          out.jobs.push_back(std::move(job));
        }
        return out;
      });
}

absl::StatusOr<Job> PostgresRepository::GetJob(const std::string& job_id) {
  return pg::RunTx(
      pool_.get(), "reading job", [&](pqxx::work& tx) -> absl::StatusOr<Job> {
        pqxx::result r = tx.exec_params(
            absl::StrCat("SELECT ", kJobColumns, " FROM jobs j WHERE j.id = $1"), job_id);
        if (r.empty()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
        RIB_ASSIGN_OR_RETURN(Job job, RowToJob(r[0]));
        job.results = ResultsOf(tx, job.reused_from.empty() ? job.id : job.reused_from);
        return job;
      });
}

absl::StatusOr<std::vector<MatrixJob>> PostgresRepository::GetMatrixJobs(
    const std::string& sweep_id) {
  return pg::RunTx(
      pool_.get(), "reading matrix",
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<MatrixJob>> {
        if (tx.exec_params("SELECT 1 FROM sweeps WHERE id = $1", sweep_id).empty()) {
          return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
        }
        std::vector<MatrixJob> out;
        std::string last_id;
        for (const auto& row :
             tx.exec_params("SELECT j.id, j.model, j.method, j.method_kind, "
                            "j.finetune_dataset, j.state,"
                            " r.dataset, r.subset, r.correct, r.total, r.skipped"
                            " FROM jobs j LEFT JOIN results r ON r.job_id = "
                            "COALESCE(j.reused_from, j.id)"
                            " WHERE j.sweep_id = $1 ORDER BY j.seq, r.dataset, r.subset",
                            sweep_id)) {
          const std::string id = row[0].as<std::string>();
          if (id != last_id) {
            MatrixJob m;
            m.job_id = id;
            m.model = row[1].as<std::string>();
            m.method = row[2].as<std::string>();
            m.method_kind = row[3].as<std::string>();
            m.finetune_dataset = row[4].as<std::string>();
            m.state = domain::ParseJobState(row[5].as<std::string>())
                          .value_or(JobState::kFailed);
            out.push_back(std::move(m));
            last_id = id;
          }
          if (row[6].is_null()) continue;
          Accuracy a;
          a.dataset = row[6].as<std::string>();
          a.subset = row[7].as<std::string>();
          a.correct = row[8].as<int64_t>();
          a.total = row[9].as<int64_t>();
          a.skipped = row[10].as<int64_t>();
          out.back().results.push_back(std::move(a));
        }
        return out;
      });
}

absl::StatusOr<Worker> PostgresRepository::RegisterWorker(const WorkerRegistration& reg) {
  domain::Device d;
  if (!reg.devices.empty()) d = reg.devices[0];
  return pg::RunTx(
      pool_.get(), "registering worker", [&](pqxx::work& tx) -> absl::StatusOr<Worker> {
        const std::string now = TimeParam(clock_->Now());
        pqxx::row r = tx.exec_params1(
            "INSERT INTO workers (name, device_kind, device_count, device_memory, "
            "datasets,"
            " labels, free_devices, last_heartbeat, created_at) VALUES ($1, $2, $3, $4,"
            " $5::text[], $6::text[], $3, $7::timestamptz, $7::timestamptz) RETURNING id",
            reg.name, d.kind, d.count, d.memory_bytes, ArrayLiteral(reg.datasets),
            ArrayLiteral(reg.labels), now);
        return RowToWorker(tx.exec_params1(
            absl::StrCat("SELECT ", kWorkerColumns, " FROM workers w WHERE w.id = $1"),
            r[0].as<std::string>()));
      });
}

absl::StatusOr<HeartbeatResult> PostgresRepository::Heartbeat(
    const std::string& worker_id, const std::vector<domain::LeaseRef>& leases,
    int free_devices) {
  return pg::RunTx(
      pool_.get(), "heartbeat", [&](pqxx::work& tx) -> absl::StatusOr<HeartbeatResult> {
        const absl::Time now = clock_->Now();
        pqxx::result w = tx.exec_params(
            "UPDATE workers SET last_heartbeat = $2::timestamptz, free_devices = $3,"
            " state = CASE WHEN state = 'LOST' THEN 'ACTIVE' ELSE state END"
            " WHERE id = $1 RETURNING state",
            worker_id, TimeParam(now), free_devices);
        if (w.empty())
          return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
        HeartbeatResult out;
        out.drain = w[0][0].as<std::string>() == "DRAINING";
        const std::string expires = TimeParam(now + options_.repository.lease_timeout);
        for (const domain::LeaseRef& lease : leases) {
          pqxx::result r = tx.exec_params(
              "UPDATE jobs SET lease_expires_at = $4::timestamptz WHERE id = $1 AND"
              " worker_id = $2 AND attempt = $3 AND state IN ('LEASED', 'RUNNING')"
              " RETURNING id",
              lease.job_id, worker_id, lease.attempt, expires);
          if (r.empty()) out.revoked.push_back(lease);
        }
        return out;
      });
}

absl::StatusOr<std::optional<domain::Lease>> PostgresRepository::AcquireJob(
    const std::string& worker_id, int free_devices, const std::string& /*device_kind*/) {
  using Out = absl::StatusOr<std::optional<domain::Lease>>;
  Out out = pg::RunTx(pool_.get(), "acquiring job", [&](pqxx::work& tx) -> Out {
    const absl::Time now = clock_->Now();
    pqxx::result w = tx.exec_params(
        "UPDATE workers SET last_heartbeat = $2::timestamptz,"
        " state = CASE WHEN state = 'LOST' THEN 'ACTIVE' ELSE state END"
        " WHERE id = $1 RETURNING state, datasets",
        worker_id, TimeParam(now));
    if (w.empty()) return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
    if (w[0][0].as<std::string>() == "DRAINING") return std::optional<domain::Lease>();
    pqxx::result pick = tx.exec_params(
        "SELECT j.id FROM jobs j, workers w WHERE w.id = $1 AND j.state = 'QUEUED'"
        " AND j.devices <= $2 AND j.datasets <@ w.datasets"
        " ORDER BY j.priority DESC,"
        "  (SELECT COALESCE(sum(r.devices), 0) FROM jobs r WHERE r.owner = j.owner"
        "   AND r.state IN ('LEASED', 'RUNNING')) ASC,"
        "  j.seq ASC"
        " LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
        worker_id, free_devices);
    if (pick.empty()) return std::optional<domain::Lease>();
    const std::string id = pick[0][0].as<std::string>();
    pqxx::row r = tx.exec_params1(
        "UPDATE jobs SET attempt = attempt + 1, worker_id = $2, error = '',"
        " lease_expires_at = $3::timestamptz WHERE id = $1"
        " RETURNING attempt, hash, spec::text, last_checkpoint, sweep_id, key",
        id, worker_id, TimeParam(now + options_.repository.lease_timeout));
    SetJobState(tx, id, r[4].as<std::string>(), r[5].as<std::string>(), JobState::kLeased,
                "", now);
    domain::Lease lease;
    lease.job_id = id;
    lease.attempt = r[0].as<int>();
    lease.hash = r[1].as<std::string>();
    RIB_ASSIGN_OR_RETURN(lease.spec, rib::spec::JobSpecFromJson(r[2].as<std::string>()));
    lease.resume_checkpoint = r[3].as<std::string>();
    return std::optional<domain::Lease>(std::move(lease));
  });
  if (out.ok() && out->has_value()) signal_.Notify();
  return out;
}

absl::Status PostgresRepository::Report(const JobReport& report) {
  RIB_RETURN_IF_ERROR(internal::ValidateReport(report));
  const bool changes_state = report.kind == JobReport::Kind::kStarted ||
                             report.kind == JobReport::Kind::kFinished;
  absl::StatusOr<bool> out = pg::RunTx(
      pool_.get(), absl::StrCat("report for job ", report.job_id),
      [&](pqxx::work& tx) -> absl::StatusOr<bool> {
        const absl::Time now = clock_->Now();
        pqxx::result owner =
            tx.exec_params("SELECT sweep_id FROM jobs WHERE id = $1", report.job_id);
        if (owner.empty())
          return absl::NotFoundError(absl::StrCat("no job ", report.job_id));
        const std::string sweep_id = owner[0][0].as<std::string>();
        if (changes_state) LockSweep(tx, sweep_id);
        pqxx::row j = tx.exec_params1(
            "SELECT state, attempt, max_attempts, key FROM jobs WHERE id = $1 FOR UPDATE",
            report.job_id);
        const JobState state =
            domain::ParseJobState(j[0].as<std::string>()).value_or(JobState::kFailed);
        const int attempt = j[1].as<int>();
        const int max_attempts = j[2].as<int>();
        const std::string key = j[3].as<std::string>();
        if (report.attempt != attempt ||
            (state != JobState::kLeased && state != JobState::kRunning)) {
          return internal::StaleReportError(report, attempt, state);
        }
        SweepEvent e;
        e.sweep_id = sweep_id;
        e.job_id = report.job_id;
        e.job_label = key;
        switch (report.kind) {
          case JobReport::Kind::kStarted:
            if (state == JobState::kLeased) {
              SetJobState(tx, report.job_id, sweep_id, key, JobState::kRunning, "", now);
            }
            break;
          case JobReport::Kind::kProgress: {
            const auto& p = report.progress;
            tx.exec_params(
                "UPDATE jobs SET progress = $2, updated_at = $3::timestamptz"
                " WHERE id = $1",
                report.job_id, p.steps > 0 ? static_cast<double>(p.step) / p.steps : 0.0,
                TimeParam(now));
            e.kind = SweepEvent::Kind::kProgress;
            e.progress = p;
            InsertEvent(tx, e, now);
            break;
          }
          case JobReport::Kind::kResult: {
            const Accuracy& a = report.result;
            tx.exec_params(
                "INSERT INTO results (job_id, attempt, dataset, subset, correct, total, "
                "skipped,"
                " recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz)"
                " ON CONFLICT (job_id, dataset, subset) DO UPDATE SET attempt = "
                "EXCLUDED.attempt,"
                " correct = EXCLUDED.correct, total = EXCLUDED.total, skipped = "
                "EXCLUDED.skipped,"
                " recorded_at = EXCLUDED.recorded_at",
                report.job_id, report.attempt, a.dataset, a.subset, a.correct, a.total,
                a.skipped, TimeParam(now));
            e.kind = SweepEvent::Kind::kResult;
            e.result = a;
            InsertEvent(tx, e, now);
            break;
          }
          case JobReport::Kind::kCheckpoint:
            tx.exec_params(
                "UPDATE jobs SET last_checkpoint = $2, updated_at = $3::timestamptz"
                " WHERE id = $1",
                report.job_id, report.checkpoint, TimeParam(now));
            break;
          case JobReport::Kind::kFinished:
            if (report.ok) {
              tx.exec_params(
                  "UPDATE jobs SET final_weights = $2, progress = 1 WHERE id = $1",
                  report.job_id, report.weights);
              SetJobState(tx, report.job_id, sweep_id, key, JobState::kSucceeded, "",
                          now);
              AfterTerminal(tx, report.job_id, key, JobState::kSucceeded, now);
            } else {
              const JobState next = scheduling::StateAfterFailedAttempt(
                  attempt, max_attempts, report.retryable);
              const std::string error = report.error.empty()
                                            ? "attempt failed without an error message"
                                            : report.error;
              if (next == JobState::kQueued) {
                tx.exec_params("UPDATE jobs SET worker_id = NULL WHERE id = $1",
                               report.job_id);
              }
              SetJobState(tx, report.job_id, sweep_id, key, next, error, now);
              if (next == JobState::kFailed) {
                AfterTerminal(tx, report.job_id, key, JobState::kFailed, now);
              }
            }
            RefreshSweepState(tx, sweep_id, now);
            break;
        }
        return true;
      });
  if (out.ok()) {
    signal_.Notify();
    queue_signal_.Notify();
  }
  return out.status();
}

absl::StatusOr<int> PostgresRepository::ExpireLeases() {
  absl::StatusOr<int> out = pg::RunTx(
      pool_.get(), "expiring leases", [&](pqxx::work& tx) -> absl::StatusOr<int> {
        const absl::Time now = clock_->Now();
        const std::string now_param = TimeParam(now);
        int changed = 0;
        for (const auto& cand : tx.exec_params(
                 "SELECT id, sweep_id FROM jobs WHERE state IN ('LEASED', 'RUNNING')"
                 " AND lease_expires_at <= $1::timestamptz ORDER BY sweep_id, seq LIMIT "
                 "200",
                 now_param)) {
          const std::string id = cand[0].as<std::string>();
          const std::string sweep_id = cand[1].as<std::string>();
          LockSweep(tx, sweep_id);
          // Re-check under the lock: another coordinator may have handled it meanwhile.
          pqxx::result j = tx.exec_params(
              "SELECT attempt, max_attempts, COALESCE(worker_id, ''), key FROM jobs"
              " WHERE id = $1 AND state IN ('LEASED', 'RUNNING')"
              " AND lease_expires_at <= $2::timestamptz FOR UPDATE SKIP LOCKED",
              id, now_param);
          if (j.empty()) continue;
          const int attempt = j[0][0].as<int>();
          const std::string key = j[0][3].as<std::string>();
          const JobState next =
              scheduling::StateAfterFailedAttempt(attempt, j[0][1].as<int>(), true);
          tx.exec_params("UPDATE jobs SET worker_id = NULL WHERE id = $1", id);
          SetJobState(tx, id, sweep_id, key, next,
                      internal::LeaseExpiredError(attempt, j[0][2].as<std::string>()),
                      now);
          if (next == JobState::kFailed) {
            AfterTerminal(tx, id, key, JobState::kFailed, now);
            RefreshSweepState(tx, sweep_id, now);
          }
          ++changed;
        }
        tx.exec_params(
            "UPDATE workers SET state = 'LOST' WHERE state = 'ACTIVE'"
            " AND last_heartbeat < $1::timestamptz",
            TimeParam(now - options_.repository.lease_timeout));
        return changed;
      });
  if (out.ok() && *out > 0) {
    signal_.Notify();
    queue_signal_.Notify();
  }
  return out;
}

absl::StatusOr<std::vector<Worker>> PostgresRepository::ListWorkers() {
  return pg::RunTx(
      pool_.get(), "listing workers",
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<Worker>> {
        std::vector<Worker> out;
        for (const auto& row : tx.exec(absl::StrCat("SELECT ", kWorkerColumns,
                                                    " FROM workers w ORDER BY w.seq"))) {
          out.push_back(RowToWorker(row));
        }
        return out;
      });
}

absl::StatusOr<Worker> PostgresRepository::DrainWorker(const std::string& worker_id) {
  return pg::RunTx(
      pool_.get(), "draining worker", [&](pqxx::work& tx) -> absl::StatusOr<Worker> {
        pqxx::result r = tx.exec_params(
            "UPDATE workers SET state = 'DRAINING' WHERE id = $1 RETURNING id",
            worker_id);
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
        return RowToWorker(tx.exec_params1(
            absl::StrCat("SELECT ", kWorkerColumns, " FROM workers w WHERE w.id = $1"),
            worker_id));
      });
}

absl::StatusOr<std::vector<SweepEvent>> PostgresRepository::ListEvents(
    const std::string& sweep_id, int64_t after_id, int limit) {
  return pg::RunTx(
      pool_.get(), "reading events",
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<SweepEvent>> {
        if (tx.exec_params("SELECT 1 FROM sweeps WHERE id = $1", sweep_id).empty()) {
          return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
        }
        std::vector<SweepEvent> out;
        for (const auto& r : tx.exec_params(
                 "SELECT id, (extract(epoch from time) * 1000000)::bigint, job_id, kind,"
                 " job_state, sweep_state, job_label, error, epoch, epochs, step, steps, "
                 "loss,"
                 " lr, dataset, subset, correct, total, skipped FROM events"
                 " WHERE sweep_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                 sweep_id, after_id, limit)) {
          SweepEvent e;
          e.id = r[0].as<int64_t>();
          e.time = TimeFromMicros(r[1].as<int64_t>());
          e.sweep_id = sweep_id;
          e.job_id = r[2].as<std::string>();
          const std::string kind = r[3].as<std::string>();
          if (kind == "progress") {
            e.kind = SweepEvent::Kind::kProgress;
          } else if (kind == "result") {
            e.kind = SweepEvent::Kind::kResult;
          } else if (kind == "sweep_state") {
            e.kind = SweepEvent::Kind::kSweepState;
          } else {
            e.kind = SweepEvent::Kind::kState;
          }
          e.job_state =
              domain::ParseJobState(r[4].as<std::string>()).value_or(JobState::kPending);
          e.sweep_state = domain::ParseSweepState(r[5].as<std::string>())
                              .value_or(SweepState::kActive);
          e.job_label = r[6].as<std::string>();
          e.error = r[7].as<std::string>();
          e.progress.epoch = r[8].as<int>();
          e.progress.epochs = r[9].as<int>();
          e.progress.step = r[10].as<int64_t>();
          e.progress.steps = r[11].as<int64_t>();
          e.progress.loss = r[12].as<double>();
          e.progress.lr = r[13].as<double>();
          e.result.dataset = r[14].as<std::string>();
          e.result.subset = r[15].as<std::string>();
          e.result.correct = r[16].as<int64_t>();
          e.result.total = r[17].as<int64_t>();
          e.result.skipped = r[18].as<int64_t>();
          out.push_back(std::move(e));
        }
        return out;
      });
}

absl::StatusOr<int64_t> PostgresRepository::LastEventId(const std::string& sweep_id) {
  return pg::RunTx(
      pool_.get(), "reading events", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
        pqxx::result r = tx.exec_params(
            "SELECT COALESCE((SELECT max(e.id) FROM events e WHERE e.sweep_id = s.id), 0)"
            " FROM sweeps s WHERE s.id = $1",
            sweep_id);
        if (r.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
        return r[0][0].as<int64_t>();
      });
}

absl::StatusOr<int64_t> PostgresRepository::PruneProgressEvents(absl::Time before) {
  return pg::RunTx(pool_.get(), "pruning events",
                   [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
                     // Finished jobs write no more events, so no watcher can be waiting
                     // on these, and the per-sweep event lock is not needed (ids are
                     // never reused).
                     pqxx::result r = tx.exec_params(
                         "DELETE FROM events e USING jobs j WHERE e.kind = 'progress'"
                         " AND e.time < $1::timestamptz AND j.id = e.job_id"
                         " AND j.state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')",
                         TimeParam(before));
                     return static_cast<int64_t>(r.affected_rows());
                   });
}

}  // namespace rib::storage
