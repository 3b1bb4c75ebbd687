#include "server/storage/postgres/pg_job_writes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/auth/credentials.h"
#include "server/scheduling/job_state_machine.h"
#include "server/storage/postgres/pg_channels.h"
#include "server/storage/postgres/pg_rows.h"
#include "server/storage/postgres/pg_util.h"
#include "server/storage/repository_util.h"

namespace rib::storage::pg {
namespace {

using domain::JobState;
using domain::JobStateName;
using domain::SweepEvent;
using domain::SweepState;

std::string StatesParam(const std::vector<JobState>& states) {
  return ArrayLiteral(scheduling::StateNames(states));
}

}  // namespace

std::string LeaseHoldingStatesParam() {
  return StatesParam(scheduling::LeaseHoldingStates());
}

std::string TerminalStatesParam() { return StatesParam(scheduling::TerminalStates()); }

std::string DevicesInUseCte(int states_param) {
  return absl::StrCat(
      "WITH used AS (SELECT owner, sum(devices)::integer AS devices FROM jobs"
      " WHERE state = ANY($",
      states_param, "::text[]) GROUP BY owner) ");
}

std::map<std::string, ReusableJob> ReusableJobs(pqxx::work& tx,
                                                const std::vector<std::string>& hashes) {
  std::map<std::string, ReusableJob> out;
  for (const auto& row :
       Exec(tx,
            "SELECT DISTINCT ON (hash) hash, id, final_weights FROM jobs"
            " WHERE hash = ANY($1::text[]) AND state = 'SUCCEEDED'"
            " AND reused_from IS NULL ORDER BY hash, seq",
            ArrayLiteral(hashes))) {
    out[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return out;
}

void InsertEvent(pqxx::work& tx, const SweepEvent& e, absl::Time now) {
  const std::string job_state =
      e.kind == SweepEvent::Kind::kState ? JobStateName(e.job_state) : "";
  const std::string sweep_state =
      e.kind == SweepEvent::Kind::kSweepState ? SweepStateName(e.sweep_state) : "";
  // Its place in the log (seq) is given at COMMIT (migration 0014). Identical
  // notifications of one transaction are delivered once.
  Exec(
      tx,
      "WITH ins AS (INSERT INTO events (sweep_id, job_id, time, kind, job_state,"
      " sweep_state, job_label, error, epoch, epochs, step, steps, loss, lr, dataset,"
      " subset, correct, total, skipped) VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7,"
      " $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id)"
      " SELECT pg_notify($20, $1 || ':' || id), CASE WHEN $21 THEN pg_notify($22, '') END"
      " FROM ins",
      e.sweep_id, e.job_id, TimeParam(now), EventKindName(e.kind), job_state, sweep_state,
      e.job_label, e.error, e.progress.epoch, e.progress.epochs, e.progress.step,
      e.progress.steps, e.progress.loss, e.progress.lr, e.result.dataset, e.result.subset,
      e.result.correct, e.result.total, e.result.skipped, kEventsChannel,
      e.kind == SweepEvent::Kind::kState && e.job_state == JobState::kQueued,
      kQueueChannel);
}

void InsertStateEvents(pqxx::work& tx, const std::string& sweep_id,
                       const std::vector<std::string>& job_ids,
                       const std::vector<std::string>& keys,
                       const std::vector<std::string>& states, absl::Time now) {
  if (job_ids.empty()) return;
  const bool queued = std::find(states.begin(), states.end(),
                                JobStateName(JobState::kQueued)) != states.end();
  Exec(tx,
       "WITH ins AS (INSERT INTO events (sweep_id, job_id, time, kind, job_state,"
       " job_label, seq) SELECT $1, t.job, $2::timestamptz, $3, t.state, t.key,"
       " nextval('events_seq')"
       " FROM unnest($4::text[], $5::text[], $6::text[]) WITH ORDINALITY"
       " AS t(job, key, state, n) ORDER BY t.n RETURNING id)"
       " SELECT pg_notify($7, $1 || ':' || (SELECT max(id) FROM ins)),"
       " CASE WHEN $8 THEN pg_notify($9, '') END",
       sweep_id, TimeParam(now), EventKindName(SweepEvent::Kind::kState),
       ArrayLiteral(job_ids), ArrayLiteral(keys), ArrayLiteral(states), kEventsChannel,
       queued, kQueueChannel);
}

void LockEventLog(pqxx::work& tx, const std::string& sweep_id) {
  Exec(tx, "SELECT rib_lock_event_log($1)", sweep_id);
}

void LockJobs(pqxx::work& tx, const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return;
  Exec(tx, "SELECT 1 FROM jobs WHERE id = ANY($1::text[]) ORDER BY seq FOR UPDATE",
       ArrayLiteral(job_ids));
}

void LockDependents(pqxx::work& tx, const std::string& job_id) {
  // Dependencies are created before their dependents, so these all have a larger seq
  // than `job_id`: locking them after it keeps the ascending order.
  Exec(tx,
       "SELECT 1 FROM jobs WHERE id IN (WITH RECURSIVE d(id) AS ("
       "  SELECT job_id FROM job_deps WHERE depends_on = $1"
       "  UNION SELECT x.job_id FROM job_deps x JOIN d ON x.depends_on = d.id)"
       " SELECT id FROM d) ORDER BY seq FOR UPDATE",
       job_id);
}

void SetActor(pqxx::work& tx, const std::string& actor) {
  Exec(tx, "SELECT set_config('rib.actor', $1, true)", actor);
}

void RecordAttempt(pqxx::work& tx, const std::string& job_id, JobState to,
                   const std::string& error, absl::Time now) {
  if (to == JobState::kLeased) {
    // A hand-out: AcquireJob has set the new attempt number, worker and secret.
    Exec(
        tx,
        "INSERT INTO attempts (job_id, attempt, worker_id, lease_secret_hash, leased_at)"
        " SELECT id, attempt, COALESCE(worker_id, ''), lease_secret_hash, $2::timestamptz"
        " FROM jobs WHERE id = $1 ON CONFLICT (job_id, attempt) DO NOTHING",
        job_id, TimeParam(now));
    return;
  }
  if (to == JobState::kRunning) {
    Exec(tx,
         "UPDATE attempts a SET started_at = $2::timestamptz FROM jobs j WHERE j.id = $1"
         " AND a.job_id = j.id AND a.attempt = j.attempt AND a.started_at IS NULL",
         job_id, TimeParam(now));
    return;
  }
  // Any other state ends the job's live attempt, if it has one that has not ended.
  Exec(tx,
       "UPDATE attempts a SET finished_at = $2::timestamptz, end_state = $3, error = $4"
       " FROM jobs j WHERE j.id = $1 AND a.job_id = j.id AND a.attempt = j.attempt"
       " AND a.finished_at IS NULL",
       job_id, TimeParam(now), JobStateName(to), error);
}

absl::Status SetJobState(pqxx::work& tx, const JobRef& job, JobState to,
                         const std::string& error, absl::Time now) {
  pqxx::result r =
      Exec(tx,
           "UPDATE jobs SET state = $2, updated_at = $3::timestamptz,"
           " error = CASE WHEN $4 = '' THEN error ELSE $4 END,"
           " lease_expires_at = CASE WHEN $2 = ANY($5::text[]) THEN lease_expires_at END"
           " WHERE id = $1 AND state = ANY($6::text[]) RETURNING id",
           job.id, JobStateName(to), TimeParam(now), error, LeaseHoldingStatesParam(),
           StatesParam(scheduling::StatesThatCanBecome(to)));
  if (r.empty()) {
    pqxx::result current = Exec(tx, "SELECT state FROM jobs WHERE id = $1", job.id);
    if (current.empty()) return absl::NotFoundError(absl::StrCat("no job ", job.id));
    RIB_ASSIGN_OR_RETURN(JobState from, StoredJobState(current[0][0].as<std::string>(),
                                                       absl::StrCat("job ", job.id)));
    RIB_RETURN_IF_ERROR(scheduling::CheckTransition(from, to));
    return absl::InternalError(absl::StrCat("job ", job.id, " did not change to ",
                                            JobStateName(to), " from ",
                                            JobStateName(from)));
  }
  RecordAttempt(tx, job.id, to, error, now);
  SweepEvent e;
  e.sweep_id = job.sweep_id;
  e.job_id = job.id;
  e.kind = SweepEvent::Kind::kState;
  e.job_state = to;
  e.job_label = job.key;
  e.error = to == JobState::kFailed || to == JobState::kQueued ? error : "";
  InsertEvent(tx, e, now);
  return absl::OkStatus();
}

absl::StatusOr<std::map<JobState, int>> CountsByState(pqxx::work& tx,
                                                      const std::string& sweep_id) {
  std::map<JobState, int> counts;
  for (const auto& row :
       Exec(tx, "SELECT state, count(*) FROM jobs WHERE sweep_id = $1 GROUP BY state",
            sweep_id)) {
    RIB_ASSIGN_OR_RETURN(JobState s,
                         StoredJobState(row[0].as<std::string>(),
                                        absl::StrCat("a job of sweep ", sweep_id)));
    counts[s] = row[1].as<int>();
  }
  return counts;
}

absl::Status RefreshSweepState(pqxx::work& tx, const std::string& sweep_id,
                               absl::Time now) {
  // While a job is not terminal the sweep is ACTIVE (scheduling::DeriveSweepState):
  // answered from the (sweep_id, state) index without counting the sweep's jobs, so a
  // finished report costs the same in a sweep of 100 jobs or of 100,000.
  // Two transactions that end a sweep's last two jobs must not both see the other's job
  // still live (READ COMMITTED): each takes the sweep's event lock first (which its
  // commit takes again anyway), so the second waits for the first's commit, then reads
  // it.
  LockEventLog(tx, sweep_id);
  std::vector<JobState> live;
  for (JobState s : domain::kAllJobStates) {
    if (!domain::IsTerminal(s)) live.push_back(s);
  }
  SweepState state = SweepState::kActive;
  if (Exec(tx,
           "SELECT 1 FROM jobs WHERE sweep_id = $1 AND state = ANY($2::text[])"
           " LIMIT 1",
           sweep_id, StatesParam(live))
          .empty()) {
    RIB_ASSIGN_OR_RETURN(auto counts, CountsByState(tx, sweep_id));
    state = scheduling::DeriveSweepState(counts);
  }
  pqxx::result r =
      Exec(tx, "UPDATE sweeps SET state = $2 WHERE id = $1 AND state <> $2 RETURNING id",
           sweep_id, SweepStateName(state));
  if (r.empty() || state == SweepState::kActive) return absl::OkStatus();
  SweepEvent e;
  e.sweep_id = sweep_id;
  e.kind = SweepEvent::Kind::kSweepState;
  e.sweep_state = state;
  InsertEvent(tx, e, now);
  return absl::OkStatus();
}

namespace {

// The PENDING jobs that depend on `job_id`, in creation order; with `ready`, only those
// whose dependencies have all succeeded.
std::vector<JobRef> PendingDependents(pqxx::work& tx, const std::string& job_id,
                                      bool ready) {
  std::vector<JobRef> out;
  for (const auto& row : Exec(
           tx,
           "SELECT j.id, j.sweep_id, j.key FROM jobs j JOIN job_deps d ON d.job_id = j.id"
           " WHERE d.depends_on = $1 AND j.state = 'PENDING' AND (NOT $2 OR NOT EXISTS ("
           "   SELECT 1 FROM job_deps d2 JOIN jobs x ON x.id = d2.depends_on"
           "   WHERE d2.job_id = j.id AND x.state <> 'SUCCEEDED'))"
           " ORDER BY j.seq",
           job_id, ready)) {
    out.push_back(
        {row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()});
  }
  return out;
}

}  // namespace

absl::Status AfterTerminal(pqxx::work& tx, const JobRef& job, JobState state,
                           absl::Time now) {
  if (state == JobState::kSucceeded) {
    for (const JobRef& dependent : PendingDependents(tx, job.id, /*ready=*/true)) {
      RIB_RETURN_IF_ERROR(SetJobState(tx, dependent, JobState::kQueued, "", now));
    }
  } else if (state == JobState::kFailed) {
    for (const JobRef& dependent : PendingDependents(tx, job.id, /*ready=*/false)) {
      RIB_RETURN_IF_ERROR(SetJobState(tx, dependent, JobState::kFailed,
                                      absl::StrCat("dependency ", job.key, " failed"),
                                      now));
      RIB_RETURN_IF_ERROR(AfterTerminal(tx, dependent, JobState::kFailed, now));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<domain::Sweep> LoadSweep(pqxx::work& tx, const std::string& sweep_id) {
  pqxx::result r =
      Exec(tx, absl::StrCat("SELECT ", kSweepColumns, " FROM sweeps s WHERE s.id = $1"),
           sweep_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  RIB_ASSIGN_OR_RETURN(domain::Sweep s, RowToSweep(r[0]));
  RIB_ASSIGN_OR_RETURN(s.counts, CountsByState(tx, sweep_id));
  return s;
}

bool DependenciesSucceeded(pqxx::work& tx, const std::string& job_id) {
  return Exec(tx,
              "SELECT 1 FROM job_deps d JOIN jobs x ON x.id = d.depends_on"
              " WHERE d.job_id = $1 AND x.state <> 'SUCCEEDED' LIMIT 1",
              job_id)
      .empty();
}

std::vector<ResultRow> ResultsOf(pqxx::work& tx, const std::string& job_id) {
  std::vector<ResultRow> out;
  for (const auto& row : Exec(tx,
                              "SELECT dataset, subset, correct, total, skipped,"
                              " encode(correct_bits, 'hex'),"
                              " encode(evaluated_bits, 'hex')"
                              " FROM results WHERE job_id = $1"
                              " ORDER BY dataset, subset",
                              job_id)) {
    out.push_back(RowToAccuracy(row, 0));
    out.back().correct_bits = BitsFromHex(row[5]);
    out.back().evaluated_bits = BitsFromHex(row[6]);
  }
  return out;
}

absl::StatusOr<LiveAttempt> LockLiveAttempt(pqxx::work& tx, const std::string& job_id,
                                            int attempt, const std::string& worker_id) {
  // With what CheckLeaseHolder checks, read in the same statement.
  pqxx::result r =
      Exec(tx,
           "SELECT j.sweep_id, j.key, j.state, j.max_attempts, j.lease_secret_hash,"
           " w.principal FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id"
           " WHERE j.id = $1 AND j.attempt = $2 AND j.state = ANY($3::text[])"
           " AND ($4 = '' OR j.worker_id = $4) FOR UPDATE OF j",
           job_id, attempt, LeaseHoldingStatesParam(), worker_id);
  const std::string what = absl::StrCat("job ", job_id);
  if (r.empty()) {
    pqxx::result now = Exec(tx, "SELECT attempt, state FROM jobs WHERE id = $1", job_id);
    if (now.empty()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
    RIB_ASSIGN_OR_RETURN(JobState state,
                         StoredJobState(now[0][1].as<std::string>(), what));
    return internal::StaleReportError(job_id, attempt, now[0][0].as<int>(), state);
  }
  LiveAttempt out;
  out.job = {job_id, r[0][0].as<std::string>(), r[0][1].as<std::string>()};
  RIB_ASSIGN_OR_RETURN(out.state, StoredJobState(r[0][2].as<std::string>(), what));
  out.attempt = attempt;
  out.max_attempts = r[0][3].as<int>();
  out.lease_secret_hash = r[0][4].as<std::string>();
  if (!r[0][5].is_null()) out.holder = r[0][5].as<std::string>();
  return out;
}

absl::Status CheckLeaseHolder(const LiveAttempt& live, const std::string& reporter,
                              const std::string& secret) {
  const std::string what =
      absl::StrCat("report for attempt ", live.attempt, " of job ", live.job.id);
  if (!live.holder || *live.holder != reporter) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, " refused: the attempt is leased to another worker"));
  }
  if (live.lease_secret_hash != auth::TokenHash(secret)) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " refused: its lease secret is not the attempt's (AcquireJob's)"));
  }
  return absl::OkStatus();
}

}  // namespace rib::storage::pg
