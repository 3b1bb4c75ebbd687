// Repository over PostgreSQL (libpqxx 6.4). Every operation is one READ COMMITTED
// transaction. Concurrency rules (several coordinators may share one database):
//  * AcquireJob picks with FOR UPDATE SKIP LOCKED, so no job is handed out twice;
//  * reports lock the job row and check the attempt in the same transaction that
//    writes (fencing);
//  * a sweep's events are numbered (events.seq) at COMMIT under a per-sweep advisory
//    lock that a deferred trigger takes inside the COMMIT (migration 0014), so seq
//    grows in commit order (WatchSweep reads "seq > last seen") while writers hold
//    that lock for no round trip;
//  * no transaction locks a sweep row to change job states: the sweep's state is
//    refreshed under the event lock (pg::RefreshSweepState says why that suffices),
//    and its job counts are computed on read.
//
// The lock order, the only one (a transaction takes any subset, in this order, so no
// two can wait for each other: PostgreSQL never reports "deadlock detected"):
//   1. worker rows (Touch: AcquireJob, Heartbeat; RegisterWorker);
//   2. job rows, in ascending seq (pg::LockJobs, pg::LockDependents, "ORDER BY seq FOR
//      UPDATE"; a dependency's seq is below its dependents'). AcquireJob's pick and
//      the lease-expiry pass use SKIP LOCKED and never wait here;
//   3. the per-owner quota advisory lock (AcquireJob, owners with a quota);
//   4. the per-sweep event advisory lock (rib_lock_event_log: pg::RefreshSweepState,
//      and each event's transaction at its COMMIT), held to commit;
//   5. the sweep row, only by UPDATEs of non-key columns (state, cancelled_by,
//      priority): FOR NO KEY UPDATE strength, which does not conflict with the FOR KEY
//      SHARE that inserting an event or job takes on its sweep (the foreign key).
//  A transaction that holds a lock of a later kind never waits for one of an earlier
//  kind; the lease-expiry pass marks workers LOST after it holds job rows, so it
//  skips locked worker rows instead of waiting.
// Every event is inserted into `events` and announced with pg_notify('rib_events',
// '<sweep id>:<event id>'), plus pg_notify('rib_queue', '') when a job becomes QUEUED
// (pg_channels.h); PgChangeNotifier turns them into counter bumps in any coordinator.
// The methods are defined in postgres_repository.cc (sweeps, jobs, events) and
// postgres_repository_workers.cc (workers, leases, reports). Thread-safe.
#ifndef RIB_SERVER_STORAGE_POSTGRES_POSTGRES_REPOSITORY_H_
#define RIB_SERVER_STORAGE_POSTGRES_POSTGRES_REPOSITORY_H_

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/scheduling/clock.h"
#include "server/storage/postgres/connection_options.h"
#include "server/storage/repository.h"

namespace rib::storage {

namespace pg {
class Pool;
struct LiveAttempt;
}

struct PostgresOptions {
  // libpq URI, e.g. postgresql://user@host:5432/rib. Required.
  std::string uri;
  // Connections, opened as needed. Default 8; AcquireJob long-polls hold none.
  int pool_size = 8;
  // A transaction that finds every connection busy this long answers UNAVAILABLE
  // ("no database connection free within ..."). Default 10 s.
  absl::Duration acquire_timeout = absl::Seconds(10);
  // connect_timeout, TCP keepalives and statement_timeout of every connection, added
  // to `uri` unless it sets them (connection_options.h gives the defaults).
  pg::ConnectionOptions connection;
  RepositoryOptions repository;
};

class PostgresRepository : public Repository {
 public:
  // Connects (UNAVAILABLE when the server is unreachable within
  // connection.connect_timeout; INVALID_ARGUMENT for a URI that does not parse). The
  // schema must already be migrated (pg::ApplyMigrations). Every method answers
  // UNAVAILABLE when no connection is free within acquire_timeout or the server cannot
  // be reached, and when a statement ran past connection.statement_timeout.
  static absl::StatusOr<std::unique_ptr<PostgresRepository>> Create(
      PostgresOptions options);
  ~PostgresRepository() override;
  // Ends every wait on the database (pg::Pool::Close): calls in flight and all later
  // ones answer UNAVAILABLE at once. For a shutdown while the database is unreachable;
  // final.
  void Close();

  absl::StatusOr<SubmitResult> SubmitSweep(const NewSweep& sweep) override;
  absl::StatusOr<std::map<std::string, std::string>> FindReusableJobs(
      const std::vector<std::string>& hashes) override;
  absl::StatusOr<Sweep> GetSweep(const std::string& sweep_id) override;
  absl::StatusOr<SweepList> ListSweeps(int page_size,
                                       const std::string& page_token) override;
  absl::StatusOr<Sweep> CancelSweep(const std::string& sweep_id,
                                    const std::string& actor) override;
  absl::StatusOr<Sweep> RetrySweep(const std::string& sweep_id,
                                   const std::string& actor) override;
  absl::StatusOr<Sweep> SetSweepPriority(const std::string& sweep_id,
                                         int priority) override;
  absl::StatusOr<JobList> ListJobs(const JobFilter& filter) override;
  absl::StatusOr<Job> GetJob(const std::string& job_id) override;
  absl::StatusOr<std::vector<MatrixJob>> GetMatrixJobs(
      const std::string& sweep_id) override;
  absl::StatusOr<std::map<std::string, DatasetDistanceRow>> ListDatasetDistances(
      const std::string& sweep_id) override;
  absl::StatusOr<std::vector<domain::Attempt>> ListAttempts(
      const std::string& job_id) override;
  absl::StatusOr<domain::LogChunk> ReadAttemptLog(const std::string& job_id, int attempt,
                                                  int rank, int64_t offset,
                                                  int max_bytes) override;
  absl::StatusOr<Worker> RegisterWorker(const WorkerRegistration& reg) override;
  absl::StatusOr<HeartbeatResult> Heartbeat(const std::string& principal,
                                            const std::string& worker_id,
                                            const std::vector<domain::LeaseRef>& leases,
                                            int free_devices) override;
  absl::StatusOr<std::optional<domain::Lease>> AcquireJob(
      const std::string& principal, const std::string& worker_id, int free_devices,
      const std::string& device_kind) override;
  absl::StatusOr<int> ReleaseOrphanedLeases(
      const std::string& principal, const std::string& worker_id,
      const std::vector<domain::LeaseRef>& held) override;
  absl::Status Report(const domain::JobReport& report) override;
  absl::StatusOr<int64_t> AppendAttemptLog(const domain::LogAppend& append) override;
  absl::StatusOr<int> ExpireLeases() override;
  absl::StatusOr<std::vector<Worker>> ListWorkers() override;
  absl::StatusOr<Worker> DrainWorker(const std::string& worker_id) override;
  absl::StatusOr<Worker> UndrainWorker(const std::string& worker_id) override;
  absl::StatusOr<domain::TokenInfo> CreateToken(const std::string& hash,
                                                const std::string& user, domain::Role role,
                                                const std::string& created_by) override;
  absl::StatusOr<std::optional<domain::Principal>> FindToken(
      const std::string& hash) override;
  absl::StatusOr<std::vector<domain::TokenInfo>> ListTokens(bool include_revoked) override;
  absl::StatusOr<domain::TokenInfo> RevokeToken(const std::string& token_id,
                                                const std::string& revoked_by) override;
  absl::StatusOr<domain::Quota> SetQuota(const std::string& user,
                                         std::optional<int> devices) override;
  absl::StatusOr<std::vector<domain::Quota>> ListQuotas() override;
  absl::StatusOr<std::vector<SweepEvent>> ListEvents(const std::string& sweep_id,
                                                     int64_t after_id,
                                                     int limit) override;
  absl::StatusOr<int64_t> LastEventId(const std::string& sweep_id) override;
  absl::StatusOr<int64_t> PruneProgressEvents(absl::Time before) override;

 private:
  PostgresRepository(PostgresOptions options, std::unique_ptr<pg::Pool> pool);
  // Inserts the jobs of `sweep` (and their dependency edges and first events) into
  // the new sweep out.sweep_id, in batched statements; counts them in `out`.
  absl::Status InsertJobs(pqxx::work& tx, const NewSweep& sweep, SubmitResult& out,
                          absl::Time now);
  // Writes an accepted (fenced) report inside Report's transaction.
  absl::Status ApplyReport(pqxx::work& tx, const pg::LiveAttempt& live,
                           const domain::JobReport& report, absl::Time now);
  // When a lease renewed (or handed out) at `now` expires.
  absl::Time LeaseDeadline(absl::Time now) const {
    return now + options_.repository.lease_timeout;
  }

  const PostgresOptions options_;
  scheduling::Clock* const clock_;
  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace rib::storage

#endif  // RIB_SERVER_STORAGE_POSTGRES_POSTGRES_REPOSITORY_H_
