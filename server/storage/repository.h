// The coordinator's persistent state behind one interface (CONVENTIONS: Seams):
// PostgresRepository (postgres/) is the implementation. There is deliberately no
// in-memory one: the scheduling rules that are set operations (which QUEUED job a
// worker gets, fencing, lease expiry, reuse of a succeeded hash) are each one SQL
// statement, and a second implementation in C++ would be a second copy of each rule.
// Tests run against a real PostgreSQL (tests/server/storage/repository_contract.h).
//
// Every method is one atomic operation (one transaction in PostgreSQL); every job state
// change goes through scheduling/job_state_machine.h, and what a failed attempt leads
// to is scheduling/retry_policy.h's decision. Implementations are thread-safe, and
// several processes may share one PostgreSQL database. Change notification is not part
// of this interface (change_notifier.h).
//
// Errors: NOT_FOUND for unknown sweep/job/worker ids; FAILED_PRECONDITION for a report
// whose attempt is not the job's current one or whose job is not LEASED/RUNNING (and
// nothing is written); INVALID_ARGUMENT for malformed input; UNAVAILABLE when the
// database cannot be reached (the caller may retry); DATA_LOSS for a stored value that
// does not parse (a state name, a job spec).
#ifndef RIB_SERVER_STORAGE_REPOSITORY_H_
#define RIB_SERVER_STORAGE_REPOSITORY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/types.h"
#include "server/scheduling/clock.h"
#include "spec/job_spec.h"

namespace rib::storage {

using domain::Job;
using domain::JobState;
using domain::Sweep;
using domain::SweepEvent;
using domain::Worker;

struct RepositoryOptions {
  // Time source for leases and timestamps. Default: the real clock. Not owned.
  scheduling::Clock* clock = nullptr;
  // A lease not renewed by a heartbeat within this long expires, and a worker silent
  // this long is LOST. Default 30 s: three missed heartbeats at the worker's 10 s
  // interval.
  absl::Duration lease_timeout = absl::Seconds(30);
  // When no lease-expiry pass (of any coordinator) ran for longer than this (every
  // coordinator was down, or the database was), the next pass extends every live lease
  // to a lease timeout from now instead of expiring any: the workers could not renew
  // through the outage. Default 5 s (passes run every second);
  // InfiniteDuration() = never.
  absl::Duration expiry_grace_after = absl::Seconds(5);
};

struct NewJob {
  std::string key;  // unique within the sweep
  std::string hash;
  JobSpec spec;
  std::vector<std::string> depends_on;  // keys of earlier jobs of the same sweep
  // The device kind the job must run on ("cuda", "cpu"); "" = any kind. Default "":
  // the sweep grammar has no device kind yet.
  std::string device_kind;
};

struct NewSweep {
  std::string name;
  std::string owner;
  int priority = 0;
  int max_attempts = 3;
  std::string yaml;
  std::string client_request_id;  // "" = not idempotent
  bool force = false;             // do not reuse succeeded hashes
  std::string suite;
  std::vector<std::string> models;
  std::vector<std::string> methods;
  std::vector<std::string> finetune_datasets;
  std::vector<std::string> eval_datasets;
  std::vector<NewJob> jobs;  // dependencies before dependents
};

struct SubmitResult {
  std::string sweep_id;
  int jobs_total = 0;
  int jobs_new = 0;
  int jobs_reused = 0;
  bool existing = false;  // client_request_id matched an earlier sweep; nothing created
};

struct SweepList {
  std::vector<Sweep> sweeps;  // newest first
  std::string next_page_token;
};

struct JobFilter {
  std::string sweep_id;           // "" = every sweep
  std::optional<JobState> state;  // nullopt = any
  int page_size = 500;
  std::string page_token;
};

struct JobList {
  std::vector<Job> jobs;  // in creation order, without results
  std::string next_page_token;
  int total = 0;  // jobs matching the filter, over all pages
};

// One job of a sweep with the results it shows (its own, or reused_from's).
struct MatrixJob {
  std::string job_id;
  std::string model;
  std::string method;
  std::string method_kind;
  std::string finetune_dataset;
  JobState state = JobState::kPending;
  std::vector<ResultRow> results;
  int64_t seed = 0;  // the job's training.seed (a sweep with seeds runs each per seed)
  // An otdd job's stored distance (ListDatasetDistances; GetMatrixJobs leaves it
  // empty).
  std::optional<DatasetDistanceRow> distance;
};

struct WorkerRegistration {
  std::string name;
  // The token user registering it: only that user's calls may act for the worker, and
  // a registration with the same (name, principal) reuses the row and its id.
  std::string principal;
  std::vector<domain::Device> devices;
  std::vector<std::string> datasets;
  std::vector<std::string> labels;
};

struct HeartbeatResult {
  std::vector<domain::LeaseRef> revoked;  // leases the worker must stop now
  bool drain = false;
};

class Repository {
 public:
  virtual ~Repository() = default;

  // ---- sweeps ----
  // Creates the sweep, its jobs and edges atomically. A job whose hash already
  // SUCCEEDED in a job that computed it is created SUCCEEDED with reused_from set
  // (unless force). Same non-empty client_request_id → the earlier sweep, existing=true.
  virtual absl::StatusOr<SubmitResult> SubmitSweep(const NewSweep& sweep) = 0;
  // For `rib plan`: the job id whose succeeded result SubmitSweep would reuse, per
  // hash that has one (the same rule as SubmitSweep's).
  virtual absl::StatusOr<std::map<std::string, std::string>> FindReusableJobs(
      const std::vector<std::string>& hashes) = 0;
  virtual absl::StatusOr<Sweep> GetSweep(const std::string& sweep_id) = 0;
  virtual absl::StatusOr<SweepList> ListSweeps(int page_size,
                                               const std::string& page_token) = 0;
  // Cancels every non-terminal job (running ones are revoked at their next heartbeat).
  // `actor` (who asked) is recorded as the sweep's cancelled_by and on its events.
  virtual absl::StatusOr<Sweep> CancelSweep(const std::string& sweep_id,
                                            const std::string& actor) = 0;
  // FAILED and CANCELLED jobs go back to QUEUED (or PENDING while a dependency is not
  // done) with a fresh budget of the sweep's max_attempts; cancelled_by is cleared.
  virtual absl::StatusOr<Sweep> RetrySweep(const std::string& sweep_id,
                                           const std::string& actor) = 0;
  // Sets the priority of the sweep and of its jobs that have not finished.
  virtual absl::StatusOr<Sweep> SetSweepPriority(const std::string& sweep_id,
                                                 int priority) = 0;

  // ---- jobs ----
  virtual absl::StatusOr<JobList> ListJobs(const JobFilter& filter) = 0;
  // With results (through reused_from) and depends_on.
  virtual absl::StatusOr<Job> GetJob(const std::string& job_id) = 0;
  virtual absl::StatusOr<std::vector<MatrixJob>> GetMatrixJobs(
      const std::string& sweep_id) = 0;
  // Every recorded attempt of the job, oldest first (hand-outs before migration 0010
  // have none); for a reused job, those of the job that computed it. NOT_FOUND for an
  // unknown job.
  // The OTDD results (migration 0011) of the sweep's jobs, by job id (a reused job
  // reads its source's). NOT_FOUND for an unknown sweep.
  virtual absl::StatusOr<std::map<std::string, DatasetDistanceRow>> ListDatasetDistances(
      const std::string& sweep_id) = 0;
  virtual absl::StatusOr<std::vector<domain::Attempt>> ListAttempts(
      const std::string& job_id) = 0;
  // Up to `max_bytes` of rank `rank`'s uploaded log of the attempt (0 = the job's
  // latest), from `offset` or the first byte still kept. NOT_FOUND for an unknown job
  // or attempt; an attempt whose rank uploaded nothing has an empty chunk.
  virtual absl::StatusOr<domain::LogChunk> ReadAttemptLog(const std::string& job_id,
                                                          int attempt, int rank,
                                                          int64_t offset,
                                                          int max_bytes) = 0;

  // ---- workers and leases ----
  virtual absl::StatusOr<Worker> RegisterWorker(const WorkerRegistration& reg) = 0;
  // The calls below act for `worker_id` only when `principal` (the caller's token
  // user) registered it: PERMISSION_DENIED otherwise, and nothing is written.
  //
  // Renews the listed leases that are still the worker's own; returns the others.
  virtual absl::StatusOr<HeartbeatResult> Heartbeat(
      const std::string& principal, const std::string& worker_id,
      const std::vector<domain::LeaseRef>& leases, int free_devices) = 0;
  // Hands out the best QUEUED job that fits (DESIGN §8), or nullopt: among the jobs
  // whose datasets the worker has, that need at most `free_devices` devices, and whose
  // device kind is "" or one the worker registered (and `device_kind`, when given),
  // the highest priority, then the owner with the fewest devices in use (fair share),
  // then the oldest. A job whose owner's jobs would then hold more devices than the
  // owner's quota is skipped. The attempt number grows by one on every hand-out, and
  // the lease gets a fresh secret (Lease::secret; only its hash is stored).
  virtual absl::StatusOr<std::optional<domain::Lease>> AcquireJob(
      const std::string& principal, const std::string& worker_id, int free_devices,
      const std::string& device_kind) = 0;
  // Requeues the jobs leased to `worker_id` that are not in `held`, the leases the
  // worker says it holds as it asks for another: their AcquireJob answer never reached
  // it (scheduling::OrphanedLeaseMessage). Such an attempt does not count against
  // max_attempts. Returns how many jobs it requeued. Correct only when the worker asks
  // for one lease at a time (rib-worker does), so every lease granted before this call
  // was answered before it.
  virtual absl::StatusOr<int> ReleaseOrphanedLeases(
      const std::string& principal, const std::string& worker_id,
      const std::vector<domain::LeaseRef>& held) = 0;
  // Writes one fenced report (see the error codes above). Besides the attempt, the
  // report must prove the lease: report.reporter registered the job's worker and
  // report.lease_secret is the attempt's secret; PERMISSION_DENIED otherwise, and
  // nothing is written. The events it writes record report.reporter as their actor.
  // A report whose seq (> 0) is at or below the attempt's highest written one is a
  // re-send: OK, and nothing is written.
  virtual absl::Status Report(const domain::JobReport& report) = 0;
  // Appends to an attempt's rank log, keeping the newest 1 MiB per (attempt, rank)
  // (pg::kMaxAttemptLogBytes); bytes before the stored end are skipped, so a re-send is
  // harmless. Proven like a report (the token user that registered the attempt's
  // worker, the attempt's lease secret: PERMISSION_DENIED otherwise), but accepted
  // after the attempt ended. NOT_FOUND for an attempt without a row. Returns the end
  // offset stored.
  virtual absl::StatusOr<int64_t> AppendAttemptLog(const domain::LogAppend& append) = 0;
  // Requeues (or fails, past max_attempts) every job whose lease has expired. Returns
  // how many jobs it changed. After a gap in the passes (expiry_grace_after) it extends
  // the live leases instead and changes no job. Safe to run from several coordinators
  // at once.
  virtual absl::StatusOr<int> ExpireLeases() = 0;
  virtual absl::StatusOr<std::vector<Worker>> ListWorkers() = 0;
  virtual absl::StatusOr<Worker> DrainWorker(const std::string& worker_id) = 0;
  // A DRAINING worker is ACTIVE again (a LOST or ACTIVE one is left as it is).
  virtual absl::StatusOr<Worker> UndrainWorker(const std::string& worker_id) = 0;

  // ---- identity ----
  // Stores a token by its hash (auth::TokenHash). INVALID_ARGUMENT for a hash already
  // stored.
  virtual absl::StatusOr<domain::TokenInfo> CreateToken(const std::string& hash,
                                                        const std::string& user,
                                                        domain::Role role,
                                                        const std::string& created_by) = 0;
  // The principal of the token with this hash, or nullopt when there is none or it is
  // revoked (a revoked token stops working at the next call: nothing is cached).
  virtual absl::StatusOr<std::optional<domain::Principal>> FindToken(
      const std::string& hash) = 0;
  // Oldest first; revoked ones only with include_revoked.
  virtual absl::StatusOr<std::vector<domain::TokenInfo>> ListTokens(
      bool include_revoked) = 0;
  // NOT_FOUND for an unknown id; revoking a revoked token changes nothing. Announced
  // on ChangeNotifier::Topic::kTokens (every coordinator drops its cached tokens).
  virtual absl::StatusOr<domain::TokenInfo> RevokeToken(const std::string& token_id,
                                                        const std::string& revoked_by) = 0;
  // Sets (devices >= 0) or removes (nullopt: unlimited) the user's device quota.
  virtual absl::StatusOr<domain::Quota> SetQuota(const std::string& user,
                                                 std::optional<int> devices) = 0;
  // Every user with a quota or with devices in use, by name.
  virtual absl::StatusOr<std::vector<domain::Quota>> ListQuotas() = 0;

  // ---- events ----
  // Events of the sweep with id > after_id, in the order they committed, at most
  // `limit`. An event is listed only once its transaction has committed, and no event
  // committed later gets a smaller id.
  virtual absl::StatusOr<std::vector<SweepEvent>> ListEvents(const std::string& sweep_id,
                                                             int64_t after_id,
                                                             int limit) = 0;
  // The id of the sweep's newest event (0 when none): where a watch starts.
  virtual absl::StatusOr<int64_t> LastEventId(const std::string& sweep_id) = 0;
  // Deletes the progress events written before `before` by jobs that have finished
  // (SUCCEEDED, FAILED or CANCELLED): the bulk of the log. State, result and sweep-state
  // events, the sweep's history, are kept, and later event ids still grow. Returns how
  // many it deleted. Safe to run from several coordinators at once.
  virtual absl::StatusOr<int64_t> PruneProgressEvents(absl::Time before) = 0;
};

}  // namespace rib::storage

#endif  // RIB_SERVER_STORAGE_REPOSITORY_H_
