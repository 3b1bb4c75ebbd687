#include "server/storage/postgres/postgres_repository.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/scheduling/job_state_machine.h"
#include "server/storage/postgres/pg_attempts.h"
#include "server/storage/postgres/pg_distances.h"
#include "server/storage/postgres/pg_job_writes.h"
#include "server/storage/postgres/pg_rows.h"
#include "server/storage/postgres/pg_util.h"
#include "server/storage/repository_util.h"
#include "spec/job_json.h"

namespace rib::storage {

using domain::JobState;
using domain::JobStateName;
using pg::ArrayLiteral;
using pg::JobRef;
using pg::TimeParam;

absl::StatusOr<std::unique_ptr<PostgresRepository>> PostgresRepository::Create(
    PostgresOptions options) {
  pg::Pool::Options pool_options;
  pool_options.size = options.pool_size;
  pool_options.acquire_timeout = options.acquire_timeout;
  pool_options.connection = options.connection;
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<pg::Pool> pool,
                       pg::Pool::Create(options.uri, pool_options));
  std::unique_ptr<PostgresRepository> repo(
      new PostgresRepository(std::move(options), std::move(pool)));
  return repo;
}

PostgresRepository::PostgresRepository(PostgresOptions options,
                                       std::unique_ptr<pg::Pool> pool)
    : options_(std::move(options)),
      clock_(options_.repository.clock != nullptr ? options_.repository.clock
                                                  : scheduling::Clock::Real()),
      pool_(std::move(pool)) {}

PostgresRepository::~PostgresRepository() = default;

void PostgresRepository::Close() { pool_->Close(); }

namespace {

// Jobs per INSERT statement of a submission: bounds one statement's parameters.
constexpr size_t kSubmitBatch = 2000;

}  // namespace

absl::Status PostgresRepository::InsertJobs(pqxx::work& tx, const NewSweep& in,
                                            SubmitResult& out, absl::Time now) {
  // The earlier succeeded job of each hash, for reuse: one query for the sweep.
  std::map<std::string, pg::ReusableJob> prior;
  if (!in.force) {
    std::vector<std::string> hashes;
    for (const NewJob& nj : in.jobs) hashes.push_back(nj.hash);
    prior = pg::ReusableJobs(tx, hashes);
  }
  std::map<std::string, JobState> state_of;  // key → initial state
  std::map<std::string, std::string> id_of;  // key → id
  for (size_t first = 0; first < in.jobs.size(); first += kSubmitBatch) {
    const size_t last = std::min(in.jobs.size(), first + kSubmitBatch);
    std::vector<std::string> keys, hashes, specs, models, methods, kinds, finetune,
        datasets, devices, device_kinds, states, reused, weights, progress;
    for (size_t i = first; i < last; ++i) {
      const NewJob& nj = in.jobs[i];
      auto reuse = prior.find(nj.hash);
      const bool reusing = reuse != prior.end();
      bool deps_ok = true;
      for (const std::string& dep : nj.depends_on) {
        deps_ok = deps_ok && state_of.at(dep) == JobState::kSucceeded;
      }
      const JobState state = scheduling::InitialJobState(reusing, deps_ok);
      state_of[nj.key] = state;
      keys.push_back(nj.key);
      hashes.push_back(nj.hash);
      specs.push_back(rib::spec::JobSpecToJson(nj.spec));
      models.push_back(nj.spec.model.name);
      methods.push_back(nj.spec.method.name);
      kinds.push_back(nj.spec.method.kind);
      finetune.push_back(nj.spec.finetune_dataset);
      datasets.push_back(absl::StrJoin(internal::JobDatasets(nj.spec), "\x1f"));
      devices.push_back(std::to_string(nj.spec.devices));
      device_kinds.push_back(nj.device_kind);
      states.push_back(JobStateName(state));
      reused.push_back(reusing ? reuse->second.id : "");
      weights.push_back(reusing ? reuse->second.final_weights : "");
      progress.push_back(reusing ? "1" : "0");
      ++out.jobs_total;
      ++(reusing ? out.jobs_reused : out.jobs_new);
    }
    // One statement per batch, rows in the sweep's order (seq follows it).
    for (const auto& row : pg::Exec(
             tx,
             "INSERT INTO jobs (sweep_id, key, hash, spec, model, method, method_kind,"
             " finetune_dataset, datasets, devices, device_kind, state, max_attempts,"
             " reused_from, final_weights, priority, owner, progress, created_at,"
             " updated_at)"
             " SELECT $1, t.key, t.hash, t.spec::jsonb, t.model, t.method, t.kind,"
             "  t.finetune, string_to_array(t.datasets, chr(31)), t.devices,"
             "  t.device_kind, t.state, $2, NULLIF(t.reused, ''), t.weights, $3, $4,"
             "  t.progress, $5::timestamptz, $5::timestamptz"
             " FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[],"
             "  $11::text[], $12::text[], $13::text[], $14::integer[], $15::text[],"
             "  $16::text[], $17::text[], $18::text[], $19::double precision[])"
             "  WITH ORDINALITY AS t(key, hash, spec, model, method, kind, finetune,"
             "  datasets, devices, device_kind, state, reused, weights, progress, n)"
             " ORDER BY t.n RETURNING id, key",
             out.sweep_id, in.max_attempts, in.priority, in.owner, TimeParam(now),
             ArrayLiteral(keys), ArrayLiteral(hashes), ArrayLiteral(specs),
             ArrayLiteral(models), ArrayLiteral(methods), ArrayLiteral(kinds),
             ArrayLiteral(finetune), ArrayLiteral(datasets), ArrayLiteral(devices),
             ArrayLiteral(device_kinds), ArrayLiteral(states), ArrayLiteral(reused),
             ArrayLiteral(weights), ArrayLiteral(progress))) {
      id_of[row[1].as<std::string>()] = row[0].as<std::string>();
    }
    std::vector<std::string> dep_jobs, dep_targets, event_jobs;
    for (size_t i = first; i < last; ++i) {
      const NewJob& nj = in.jobs[i];
      for (const std::string& dep : nj.depends_on) {
        dep_jobs.push_back(id_of.at(nj.key));
        dep_targets.push_back(id_of.at(dep));
      }
      event_jobs.push_back(id_of.at(nj.key));
    }
    if (!dep_jobs.empty()) {
      pg::Exec(tx,
               "INSERT INTO job_deps (job_id, depends_on)"
               " SELECT * FROM unnest($1::text[], $2::text[])",
               ArrayLiteral(dep_jobs), ArrayLiteral(dep_targets));
    }
    // Each job's first state event, in the sweep's order (pg::InsertEvent's rows and
    // notifications, batched: listeners only count notifications).
    pg::InsertStateEvents(tx, out.sweep_id, event_jobs, keys, states, now);
  }
  return absl::OkStatus();
}

absl::StatusOr<SubmitResult> PostgresRepository::SubmitSweep(const NewSweep& in) {
  RIB_RETURN_IF_ERROR(internal::ValidateNewSweep(in));
  absl::StatusOr<SubmitResult> result = pg::RunTx(
      pool_.get(), "submitting sweep",
      [&](pqxx::work& tx) -> absl::StatusOr<SubmitResult> {
        const absl::Time now = clock_->Now();
        SubmitResult out;
        pg::SetActor(tx, in.owner);
        pqxx::result inserted = pg::Exec(
            tx,
            "INSERT INTO sweeps (name, owner, priority, max_attempts, yaml, "
            "client_request_id,"
            " suite, models, methods, finetune_datasets, eval_datasets, created_at)"
            " VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8::text[], $9::text[],"
            " $10::text[], $11::text[], $12::timestamptz)"
            " ON CONFLICT (owner, client_request_id) DO NOTHING RETURNING id",
            in.name, in.owner, in.priority, in.max_attempts, in.yaml,
            in.client_request_id, in.suite, ArrayLiteral(in.models),
            ArrayLiteral(in.methods), ArrayLiteral(in.finetune_datasets),
            ArrayLiteral(in.eval_datasets), TimeParam(now));
        if (inserted.empty()) {
          // Another submission of this owner with this request id committed first
          // (possibly concurrently: ON CONFLICT waited for it). Return it and create
          // nothing. Request ids are per owner (migration 0004).
          pqxx::row r =
              pg::Exec1(tx,
                        "SELECT s.id, count(j.id), count(j.reused_from) FROM sweeps s"
                        " LEFT JOIN jobs j ON j.sweep_id = s.id"
                        " WHERE s.owner = $1 AND s.client_request_id = $2 GROUP BY s.id",
                        in.owner, in.client_request_id);
          out.sweep_id = r[0].as<std::string>();
          out.jobs_total = r[1].as<int>();
          out.jobs_reused = r[2].as<int>();
          out.jobs_new = out.jobs_total - out.jobs_reused;
          out.existing = true;
          return out;
        }
        out.sweep_id = inserted[0][0].as<std::string>();
        RIB_RETURN_IF_ERROR(InsertJobs(tx, in, out, now));
        RIB_RETURN_IF_ERROR(pg::RefreshSweepState(tx, out.sweep_id, now));
        return out;
      });
  return result;
}

absl::StatusOr<Sweep> PostgresRepository::GetSweep(const std::string& sweep_id) {
  return pg::RunTx(pool_.get(), "reading sweep",
                   [&](pqxx::work& tx) { return pg::LoadSweep(tx, sweep_id); });
}

absl::StatusOr<SweepList> PostgresRepository::ListSweeps(int page_size,
                                                         const std::string& page_token) {
  RIB_ASSIGN_OR_RETURN(int64_t before, internal::ParsePageToken(page_token));
  const int n = internal::ClampPageSize(page_size, 50, 1000);
  return pg::RunTx(
      pool_.get(), "listing sweeps", [&](pqxx::work& tx) -> absl::StatusOr<SweepList> {
        SweepList out;
        pqxx::result rows = pg::Exec(
            tx,
            absl::StrCat("SELECT ", pg::kSweepColumns,
                         " FROM sweeps s WHERE ($1 = 0 OR s.seq < $1) ORDER BY s.seq DESC"
                         " LIMIT $2"),
            before, n + 1);
        std::map<std::string, size_t> index;  // sweep id → position in out.sweeps
        for (const auto& row : rows) {
          if (static_cast<int>(out.sweeps.size()) == n) {
            out.next_page_token = std::to_string(rows[n - 1][14].as<int64_t>());
            break;
          }
          RIB_ASSIGN_OR_RETURN(Sweep s, pg::RowToSweep(row));
          index[s.id] = out.sweeps.size();
          out.sweeps.push_back(std::move(s));
        }
        // Job counts of the whole page in one query (not one per sweep), in the same
        // transaction so they agree with the rows above.
        for (const auto& row :
             pg::Exec(tx,
                      "SELECT sweep_id, state, count(*) FROM jobs WHERE sweep_id IN"
                      " (SELECT s.id FROM sweeps s WHERE ($1 = 0 OR s.seq < $1)"
                      " ORDER BY s.seq DESC LIMIT $2) GROUP BY sweep_id, state",
                      before, n)) {
          auto it = index.find(row[0].as<std::string>());
          RIB_ASSIGN_OR_RETURN(
              JobState state,
              pg::StoredJobState(row[1].as<std::string>(),
                                 "a job of sweep " + row[0].as<std::string>()));
          if (it != index.end()) out.sweeps[it->second].counts[state] = row[2].as<int>();
        }
        return out;
      });
}

absl::StatusOr<Sweep> PostgresRepository::CancelSweep(const std::string& sweep_id,
                                                      const std::string& actor) {
  absl::StatusOr<Sweep> out = pg::RunTx(
      pool_.get(), "cancelling sweep", [&](pqxx::work& tx) -> absl::StatusOr<Sweep> {
        const absl::Time now = clock_->Now();
        pg::SetActor(tx, actor);
        RIB_ASSIGN_OR_RETURN(Sweep before, pg::LoadSweep(tx, sweep_id));
        for (const auto& row :
             pg::Exec(tx,
                      "SELECT id, key FROM jobs WHERE sweep_id = $1 AND state = "
                      "ANY($2::text[])"
                      " ORDER BY seq FOR UPDATE",
                      sweep_id,
                      ArrayLiteral(scheduling::StateNames(
                          scheduling::StatesThatCanBecome(JobState::kCancelled))))) {
          RIB_RETURN_IF_ERROR(pg::SetJobState(
              tx, JobRef{row[0].as<std::string>(), sweep_id, row[1].as<std::string>()},
              JobState::kCancelled, "", now));
        }
        // The event lock, then the sweep row (the lock order).
        pg::LockEventLog(tx, sweep_id);
        if (before.state == domain::SweepState::kActive) {
          pg::Exec(tx, "UPDATE sweeps SET cancelled_by = $2 WHERE id = $1", sweep_id,
                   actor);
        }
        RIB_RETURN_IF_ERROR(pg::RefreshSweepState(tx, sweep_id, now));
        return pg::LoadSweep(tx, sweep_id);
      });
  return out;
}

absl::StatusOr<Sweep> PostgresRepository::RetrySweep(const std::string& sweep_id,
                                                     const std::string& actor) {
  absl::StatusOr<Sweep> out = pg::RunTx(
      pool_.get(), "retrying sweep", [&](pqxx::work& tx) -> absl::StatusOr<Sweep> {
        const absl::Time now = clock_->Now();
        pg::SetActor(tx, actor);
        RIB_ASSIGN_OR_RETURN(Sweep sweep, pg::LoadSweep(tx, sweep_id));
        for (const auto& row : pg::Exec(
                 tx,
                 "SELECT id, key FROM jobs WHERE sweep_id = $1 AND state = "
                 "ANY($2::text[])"
                 " ORDER BY seq FOR UPDATE",
                 sweep_id,
                 ArrayLiteral(scheduling::StateNames(scheduling::RestartableStates())))) {
          const std::string id = row[0].as<std::string>();
          // What a retry resets: a fresh budget of the sweep's max_attempts (attempt
          // numbers keep growing: they are the fencing token) and of free lost
          // contacts, no error, no worker.
          pg::Exec(tx,
                   "UPDATE jobs SET max_attempts = attempt + $2, lost_contacts = 0, "
                   "error = '',"
                   " worker_id = NULL WHERE id = $1",
                   id, sweep.max_attempts);
          RIB_RETURN_IF_ERROR(pg::SetJobState(
              tx, JobRef{id, sweep_id, row[1].as<std::string>()},
              scheduling::QueuedOrPending(pg::DependenciesSucceeded(tx, id)), "", now));
        }
        pg::LockEventLog(tx, sweep_id);  // before the sweep row (the lock order)
        pg::Exec(tx, "UPDATE sweeps SET cancelled_by = '' WHERE id = $1", sweep_id);
        RIB_RETURN_IF_ERROR(pg::RefreshSweepState(tx, sweep_id, now));
        return pg::LoadSweep(tx, sweep_id);
      });
  return out;
}

absl::StatusOr<Sweep> PostgresRepository::SetSweepPriority(const std::string& sweep_id,
                                                           int priority) {
  return pg::RunTx(
      pool_.get(), "setting sweep priority",
      [&](pqxx::work& tx) -> absl::StatusOr<Sweep> {
        RIB_RETURN_IF_ERROR(pg::LoadSweep(tx, sweep_id).status());
        // Job rows in ascending seq, then the sweep row (the lock order).
        pg::Exec(tx,
                 "UPDATE jobs SET priority = $2 WHERE id IN (SELECT id FROM jobs"
                 " WHERE sweep_id = $1 AND NOT state = ANY($3::text[]) ORDER BY seq FOR "
                 "UPDATE)",
                 sweep_id, priority, pg::TerminalStatesParam());
        pg::Exec(tx, "UPDATE sweeps SET priority = $2 WHERE id = $1", sweep_id, priority);
        return pg::LoadSweep(tx, sweep_id);
      });
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
        out.total = pg::Exec1(tx, absl::StrCat("SELECT count(*) FROM jobs j", where),
                              filter.sweep_id, state)[0]
                        .as<int>();
        pqxx::result rows =
            pg::Exec(tx,
                     absl::StrCat("SELECT ", pg::kJobColumns, ", j.seq FROM jobs j",
                                  where, " AND j.seq > $3 ORDER BY j.seq LIMIT $4"),
                     filter.sweep_id, state, after, n + 1);
        for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
          if (i == n) {
            out.next_page_token = std::to_string(rows[n - 1][19].as<int64_t>());
            break;
          }
          RIB_ASSIGN_OR_RETURN(Job job, pg::RowToJob(rows[i]));
          out.jobs.push_back(std::move(job));
        }
        return out;
      });
}

absl::StatusOr<Job> PostgresRepository::GetJob(const std::string& job_id) {
  return pg::RunTx(
      pool_.get(), "reading job", [&](pqxx::work& tx) -> absl::StatusOr<Job> {
        pqxx::result r = pg::Exec(
            tx, absl::StrCat("SELECT ", pg::kJobColumns, " FROM jobs j WHERE j.id = $1"),
            job_id);
        if (r.empty()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
        RIB_ASSIGN_OR_RETURN(Job job, pg::RowToJob(r[0]));
        job.results =
            pg::ResultsOf(tx, job.reused_from.empty() ? job.id : job.reused_from);
        return job;
      });
}

absl::StatusOr<std::map<std::string, std::string>> PostgresRepository::FindReusableJobs(
    const std::vector<std::string>& hashes) {
  return pg::RunTx(
      pool_.get(), "looking up reusable results",
      [&](pqxx::work& tx) -> absl::StatusOr<std::map<std::string, std::string>> {
        std::map<std::string, std::string> out;
        for (const auto& [hash, job] : pg::ReusableJobs(tx, hashes)) {
          out[hash] = job.id;
        }
        return out;
      });
}

absl::StatusOr<std::vector<domain::Attempt>> PostgresRepository::ListAttempts(
    const std::string& job_id) {
  return pg::RunTx(pool_.get(), absl::StrCat("reading the attempts of job ", job_id),
                   [&](pqxx::work& tx) -> absl::StatusOr<std::vector<domain::Attempt>> {
                     pqxx::result j = pg::Exec(
                         tx, "SELECT COALESCE(reused_from, id) FROM jobs WHERE id = $1",
                         job_id);
                     if (j.empty()) {
                       return absl::NotFoundError(absl::StrCat("no job ", job_id));
                     }
                     return pg::LoadAttempts(tx, j[0][0].as<std::string>());
                   });
}

absl::StatusOr<domain::LogChunk> PostgresRepository::ReadAttemptLog(
    const std::string& job_id, int attempt, int rank, int64_t offset, int max_bytes) {
  return pg::RunTx(pool_.get(), absl::StrCat("reading the log of job ", job_id),
                   [&](pqxx::work& tx) -> absl::StatusOr<domain::LogChunk> {
                     return pg::ReadAttemptLog(tx, job_id, attempt, rank, offset,
                                               max_bytes);
                   });
}

absl::StatusOr<std::vector<MatrixJob>> PostgresRepository::GetMatrixJobs(
    const std::string& sweep_id) {
  return pg::RunTx(
      pool_.get(), "reading matrix",
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<MatrixJob>> {
        if (pg::Exec(tx, "SELECT 1 FROM sweeps WHERE id = $1", sweep_id).empty()) {
          return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
        }
        std::vector<MatrixJob> out;
        std::string last_id;
        for (const auto& row :
             pg::Exec(tx,
                      "SELECT j.id, j.model, j.method, j.method_kind, "
                      "j.finetune_dataset, j.state,"
                      " r.dataset, r.subset, r.correct, r.total, r.skipped,"
                      " COALESCE((j.spec->'training'->>'seed')::bigint, 0),"
                      " encode(r.correct_bits, 'hex'),"
                      " encode(r.evaluated_bits, 'hex')"
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
            RIB_ASSIGN_OR_RETURN(m.state, pg::StoredJobState(row[5].as<std::string>(),
                                                             absl::StrCat("job ", id)));
            m.seed = row[11].as<int64_t>();
            out.push_back(std::move(m));
            last_id = id;
          }
          if (row[6].is_null()) continue;
          out.back().results.push_back(pg::RowToAccuracy(row, 6));
          out.back().results.back().correct_bits = pg::BitsFromHex(row[12]);
          out.back().results.back().evaluated_bits = pg::BitsFromHex(row[13]);
        }
        return out;
      });
}

absl::StatusOr<std::map<std::string, DatasetDistanceRow>>
PostgresRepository::ListDatasetDistances(const std::string& sweep_id) {
  return pg::RunTx(
      pool_.get(), "reading dataset distances",
      [&](pqxx::work& tx) -> absl::StatusOr<std::map<std::string, DatasetDistanceRow>> {
        if (pg::Exec(tx, "SELECT 1 FROM sweeps WHERE id = $1", sweep_id).empty()) {
          return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
        }
        return pg::LoadSweepDistances(tx, sweep_id);
      });
}

absl::StatusOr<std::vector<SweepEvent>> PostgresRepository::ListEvents(
    const std::string& sweep_id, int64_t after_id, int limit) {
  return pg::RunTx(
      pool_.get(), "reading events",
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<SweepEvent>> {
        if (pg::Exec(tx, "SELECT 1 FROM sweeps WHERE id = $1", sweep_id).empty()) {
          return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
        }
        std::vector<SweepEvent> out;
        for (const auto& r :
             pg::Exec(tx,
                      absl::StrCat("SELECT ", pg::kEventColumns,
                                   " FROM events"
                                   " WHERE sweep_id = $1 AND seq > $2 ORDER BY seq"
                                   " LIMIT $3"),
                      sweep_id, after_id, limit)) {
          RIB_ASSIGN_OR_RETURN(SweepEvent e, pg::RowToEvent(r, sweep_id));
          out.push_back(std::move(e));
        }
        return out;
      });
}

absl::StatusOr<int64_t> PostgresRepository::LastEventId(const std::string& sweep_id) {
  return pg::RunTx(
      pool_.get(), "reading events", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
        pqxx::result r = pg::Exec(
            tx,
            "SELECT COALESCE((SELECT max(e.seq) FROM events e WHERE e.sweep_id = s.id), 0)"
            " FROM sweeps s WHERE s.id = $1",
            sweep_id);
        if (r.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
        return r[0][0].as<int64_t>();
      });
}

absl::StatusOr<int64_t> PostgresRepository::PruneProgressEvents(absl::Time before) {
  return pg::RunTx(
      pool_.get(), "pruning events", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
        // Finished jobs write no more events, so no watcher can be waiting
        // on these, and the per-sweep event lock is not needed (seq values are
        // never reused).
        pqxx::result r =
            pg::Exec(tx,
                     "DELETE FROM events e USING jobs j WHERE e.kind = 'progress'"
                     " AND e.time < $1::timestamptz AND j.id = e.job_id"
                     " AND j.state = ANY($2::text[])",
                     TimeParam(before), pg::TerminalStatesParam());
        return static_cast<int64_t>(r.affected_rows());
      });
}

}  // namespace rib::storage
