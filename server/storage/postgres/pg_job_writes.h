// What PostgresRepository's transactions share: the event log insert, the job locks,
// the one place a job's state is written (through scheduling/job_state_machine.h), the
// consequences of a terminal state (dependents, sweep state), and fencing. Each runs
// inside the caller's transaction, in the lock order of postgres_repository.h.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_JOB_WRITES_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_JOB_WRITES_H_

#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/types.h"

namespace rib::storage::pg {

// Which job a write is about (the event log names it by sweep and key).
struct JobRef {
  std::string id;
  std::string sweep_id;
  std::string key;
};

// Appends `e` to its sweep's log and NOTIFYs the listeners (pg_channels.h): every
// event on the events channel, a job becoming QUEUED also on the queue channel. One
// statement, no lock: the event's place in the log (events.seq) is given at COMMIT,
// under the sweep's event lock (migration 0014), so seq grows in commit order.
void InsertEvent(pqxx::work& tx, const domain::SweepEvent& e, absl::Time now);
// The first state events of the jobs of a sweep this transaction creates (job_ids[i]
// named keys[i], in states[i]), in that order, as InsertEvent would write them one by
// one, with one notification of each kind. They are numbered (seq) as they are
// inserted, not at COMMIT: no other transaction can write events of a sweep that is
// not committed yet (migration 0014).
void InsertStateEvents(pqxx::work& tx, const std::string& sweep_id,
                       const std::vector<std::string>& job_ids,
                       const std::vector<std::string>& keys,
                       const std::vector<std::string>& states, absl::Time now);
// Takes the sweep's event lock (rib_lock_event_log, migration 0014; the lock order's
// 4th), held to commit. Every transaction with events of the sweep takes it at COMMIT;
// RefreshSweepState takes it first, and so do writers of the sweep row that refresh.
void LockEventLog(pqxx::work& tx, const std::string& sweep_id);
// Locks the jobs FOR UPDATE in ascending seq (the lock order's), waiting for them.
void LockJobs(pqxx::work& tx, const std::vector<std::string>& job_ids);
// Locks every job that depends on `job_id`, directly or not, in ascending seq: call it
// before the job's terminal state is written, so that AfterTerminal's writes to them
// come before the event lock rather than after it, and so that two dependencies
// finishing at once promote their dependent (the second sees the first's commit).
void LockDependents(pqxx::work& tx, const std::string& job_id);
// Every event the transaction inserts from here on records `actor` (the events.actor
// column's default reads the transaction-local setting rib.actor; migration 0005).
void SetActor(pqxx::work& tx, const std::string& actor);

// The attempts table (migration 0010), the only writer of its lifecycle: entering
// LEASED makes the row of the job's (new) current attempt, RUNNING marks it started,
// and any other state ends it (once) with `to` and `error`. SetJobState calls it.
void RecordAttempt(pqxx::work& tx, const std::string& job_id, domain::JobState to,
                   const std::string& error, absl::Time now);

// Moves the job to `to` and records the event. The UPDATE only matches a job in one of
// scheduling::StatesThatCanBecome(to); otherwise nothing is written and the state
// machine's FAILED_PRECONDITION is returned (the caller's transaction rolls back).
// Leaving the lease-holding states clears the lease deadline and ends the attempt
// (RecordAttempt); `error`, when not
// empty, becomes the job's error.
absl::Status SetJobState(pqxx::work& tx, const JobRef& job, domain::JobState to,
                         const std::string& error, absl::Time now);
// After `job` reached SUCCEEDED or FAILED: queues the PENDING dependents whose
// dependencies have all succeeded, or fails them (and theirs) naming the dependency.
// The caller holds LockDependents(job).
absl::Status AfterTerminal(pqxx::work& tx, const JobRef& job, domain::JobState state,
                           absl::Time now);
// Recomputes the sweep's state (scheduling::DeriveSweepState) and records a change.
// Call it after this transaction changed a job state of the sweep. It takes the
// sweep's event lock (migration 0014) before it reads: every other refresh of the
// sweep has then committed or will read after this one commits, so the last job to
// finish always sees the sweep finished, without a lock on the sweep row.
absl::Status RefreshSweepState(pqxx::work& tx, const std::string& sweep_id,
                               absl::Time now);

absl::StatusOr<std::map<domain::JobState, int>> CountsByState(
    pqxx::work& tx, const std::string& sweep_id);
// The sweep with its counts; NOT_FOUND.
absl::StatusOr<domain::Sweep> LoadSweep(pqxx::work& tx, const std::string& sweep_id);
bool DependenciesSucceeded(pqxx::work& tx, const std::string& job_id);
std::vector<ResultRow> ResultsOf(pqxx::work& tx, const std::string& job_id);

// The attempt a fenced write is for, locked FOR UPDATE.
struct LiveAttempt {
  JobRef job;
  domain::JobState state = domain::JobState::kLeased;
  int attempt = 0;
  int max_attempts = 0;
  // What CheckLeaseHolder checks: the hash of the attempt's lease secret, and the token
  // user that registered the job's worker (none when the worker row is gone).
  std::string lease_secret_hash;
  std::optional<std::string> holder;
};
// Fencing (DESIGN §8), the one statement that decides it: attempt `attempt` of the job
// may write only while it is the job's current attempt and the job holds a lease
// (and, when `worker_id` is not empty, that worker's). NOT_FOUND for an unknown job;
// FAILED_PRECONDITION naming both attempts and the state for a stale one.
absl::StatusOr<LiveAttempt> LockLiveAttempt(pqxx::work& tx, const std::string& job_id,
                                            int attempt, const std::string& worker_id);

// The lease-holder rule, the only implementation: a report about the live attempt
// `live` is accepted only from the token user that registered the job's worker
// (`reporter`) and with the attempt's secret (`secret`, whose hash AcquireJob stored).
// PERMISSION_DENIED naming which proof failed, without revealing the owner.
absl::Status CheckLeaseHolder(const LiveAttempt& live, const std::string& reporter,
                              const std::string& secret);

// `state = ANY($n::text[])` parameters, from the state machine.
std::string LeaseHoldingStatesParam();
std::string TerminalStatesParam();

// The reuse rule (DESIGN §8), the only implementation: for each of `hashes`, the
// earliest job that computed it and SUCCEEDED (not one that reused it).
struct ReusableJob {
  std::string id;
  std::string final_weights;
};
std::map<std::string, ReusableJob> ReusableJobs(pqxx::work& tx,
                                                const std::vector<std::string>& hashes);

// "WITH used AS (...)": the devices each owner's jobs hold now (owner, devices), with
// LeaseHoldingStatesParam() as parameter $`states_param`. The one definition of devices
// in use, shared by the hand-out (fair share, quotas) and ListQuotas.
std::string DevicesInUseCte(int states_param);

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_JOB_WRITES_H_
