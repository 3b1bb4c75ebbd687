// PostgresRepository: workers, leases and reports (the worker API's side). The
// fencing and lease-expiry rules are each one SQL statement here or in
// pg_job_writes.cc, and the hand-out is QueueGroups plus one pick per group, here;
// what a state change may be and whether a failed attempt runs again are
// scheduling/'s decisions.
#include <algorithm>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/auth/credentials.h"
#include "server/scheduling/job_state_machine.h"
#include "server/scheduling/retry_policy.h"
#include "server/storage/postgres/pg_attempts.h"
#include "server/storage/postgres/pg_distances.h"
#include "server/storage/postgres/pg_job_writes.h"
#include "server/storage/postgres/pg_rows.h"
#include "server/storage/postgres/pg_util.h"
#include "server/storage/postgres/postgres_repository.h"
#include "server/storage/repository_util.h"
#include "spec/job_json.h"
#include "spec/methods.h"

namespace rib::storage {
namespace {

using domain::JobReport;
using domain::JobState;
using pg::ArrayLiteral;
using pg::JobRef;
using pg::TimeParam;

absl::StatusOr<Worker> LoadWorker(pqxx::work& tx, const std::string& worker_id) {
  return pg::RowToWorker(pg::Exec1(
      tx, absl::StrCat("SELECT ", pg::kWorkerColumns, " FROM workers w WHERE w.id = $2"),
      pg::LeaseHoldingStatesParam(), worker_id));
}

// Marks the worker alive (a LOST one is ACTIVE again) and records its free devices
// (unless negative); returns its state. The worker-ownership rule, the only
// implementation: only the token user that registered a worker may act for it
// (PERMISSION_DENIED, nothing written). NOT_FOUND for an unknown worker.
absl::StatusOr<std::string> Touch(pqxx::work& tx, const std::string& principal,
                                  const std::string& worker_id, absl::Time now,
                                  int free_devices) {
  pqxx::result w =
      pg::Exec(tx,
               "UPDATE workers SET last_heartbeat = $2::timestamptz,"
               " free_devices = CASE WHEN $3 < 0 THEN free_devices ELSE $3 END,"
               " state = CASE WHEN state = 'LOST' THEN 'ACTIVE' ELSE state END"
               " WHERE id = $1 AND principal = $4 RETURNING state",
               worker_id, TimeParam(now), free_devices, principal);
  if (!w.empty()) return w[0][0].as<std::string>();
  if (pg::Exec(tx, "SELECT 1 FROM workers WHERE id = $1", worker_id).empty()) {
    return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "worker ", worker_id,
      " was registered with another worker token (caller: ", principal, ")"));
}

// A lost contact, the only implementation: the coordinator lost the worker of the
// job's live attempt (its lease expired, or the worker registered again after a
// restart). Locks the job (SKIP LOCKED: a job another transaction holds is being
// handled); when it is still in a lease-holding state and passes `still` (an SQL
// condition on jobs, parameters $1-$2 taken by the id and the states, $3 by
// `still_param`), requeues it, or fails it once its lost contacts use up its attempts
// (retry_policy.h). Returns whether it changed the job.
absl::StatusOr<bool> LoseContact(pqxx::work& tx, const std::string& id,
                                 const std::string& sweep_id, const std::string& still,
                                 const std::string& still_param, bool restarted,
                                 absl::Time now) {
  // Re-check under the lock: another coordinator may have handled it meanwhile.
  pqxx::result j =
      pg::Exec(tx,
               absl::StrCat("SELECT attempt, max_attempts, COALESCE(worker_id, ''), key,"
                            " lost_contacts + 1 FROM jobs WHERE id = $1"
                            " AND state = ANY($2::text[]) AND ",
                            still, " FOR UPDATE SKIP LOCKED"),
               id, pg::LeaseHoldingStatesParam(), still_param);
  if (j.empty()) return false;
  const int attempt = j[0][0].as<int>();
  const std::string worker = j[0][2].as<std::string>();
  const int lost_contacts = j[0][4].as<int>();
  const JobRef job{id, sweep_id, j[0][3].as<std::string>()};
  const JobState next =
      scheduling::StateAfterLeaseExpiry(attempt, j[0][1].as<int>(), lost_contacts);
  // A lost contact that does not count gives the job one more attempt.
  pg::Exec(
      tx,
      "UPDATE jobs SET worker_id = NULL, lost_contacts = $2,"
      " max_attempts = max_attempts + $3 WHERE id = $1",
      id, lost_contacts,
      next == JobState::kQueued && !scheduling::LeaseExpiryConsumesAttempt(lost_contacts)
          ? 1
          : 0);
  if (next == JobState::kFailed) pg::LockDependents(tx, id);
  RIB_RETURN_IF_ERROR(
      pg::SetJobState(tx, job, next,
                      restarted ? scheduling::WorkerRestartedMessage(attempt, worker)
                                : scheduling::LeaseExpiredMessage(attempt, worker),
                      now));
  if (next == JobState::kFailed) {
    RIB_RETURN_IF_ERROR(pg::AfterTerminal(tx, job, JobState::kFailed, now));
    RIB_RETURN_IF_ERROR(pg::RefreshSweepState(tx, sweep_id, now));
  }
  return true;
}

// Queued jobs of one owner at one priority: the hand-out's unit of fair share.
struct QueueGroup {
  std::string owner;
  int priority = 0;
  int64_t oldest_seq = 0;  // of its oldest queued job
  int quota = -1;          // the owner's device quota; -1: none
  int devices_in_use = 0;  // by the owner's lease-holding jobs (read only when needed)
};

// The groups in hand-out order: priority, then the owner's devices in use (fewest
// first), then the oldest job. Found by a skip scan of the jobs_queued_by_owner index
// (migration 0009): one index probe per group, whatever the queue's length. The
// devices in use (pg::DevicesInUseCte: the lease-holding jobs, bounded by the pool's
// size, not the queue) are read only when they can matter: two groups share a
// priority, or an owner has a quota.
std::vector<QueueGroup> QueueGroups(pqxx::work& tx) {
  std::vector<QueueGroup> groups;
  bool need_usage = false;
  for (const auto& row :
       pg::Exec(tx,
                // Each step: the first index entry after the previous group's, which is
                // the next group's oldest job.
                "WITH RECURSIVE g AS ("
                "  (SELECT owner, priority, seq FROM jobs WHERE state = 'QUEUED'"
                "   ORDER BY owner, priority, seq LIMIT 1)"
                "  UNION ALL SELECT n.owner, n.priority, n.seq FROM g, LATERAL ("
                "   SELECT owner, priority, seq FROM jobs WHERE state = 'QUEUED'"
                "   AND (owner, priority) > (g.owner, g.priority)"
                "   ORDER BY owner, priority, seq LIMIT 1) n)"
                " SELECT g.owner, g.priority, g.seq, q.devices"
                " FROM g LEFT JOIN quotas q ON q.user_name = g.owner")) {
    QueueGroup g;
    g.owner = row[0].as<std::string>();
    g.priority = row[1].as<int>();
    g.oldest_seq = row[2].as<int64_t>();
    g.quota = row[3].is_null() ? -1 : row[3].as<int>();
    need_usage = need_usage || g.quota >= 0;
    for (const QueueGroup& other : groups) {
      need_usage = need_usage || other.priority == g.priority;
    }
    groups.push_back(std::move(g));
  }
  if (need_usage) {
    std::map<std::string, int> used;
    for (const auto& row : pg::Exec(
             tx, absl::StrCat(pg::DevicesInUseCte(1), "SELECT owner, devices FROM used"),
             pg::LeaseHoldingStatesParam())) {
      used[row[0].as<std::string>()] = row[1].as<int>();
    }
    for (QueueGroup& g : groups) g.devices_in_use = used[g.owner];
  }
  std::sort(groups.begin(), groups.end(), [](const QueueGroup& a, const QueueGroup& b) {
    return std::tie(b.priority, a.devices_in_use, a.oldest_seq) <
           std::tie(a.priority, b.devices_in_use, b.oldest_seq);
  });
  return groups;
}

}  // namespace

absl::StatusOr<Worker> PostgresRepository::RegisterWorker(const WorkerRegistration& reg) {
  // Every device kind the worker has (cpu and cuda), as parallel arrays.
  std::vector<std::string> kinds, counts, memories;
  int total = 0;
  for (const domain::Device& d : reg.devices) {
    if (d.count <= 0) continue;
    kinds.push_back(d.kind);
    counts.push_back(std::to_string(d.count));
    memories.push_back(std::to_string(d.memory_bytes));
    total += d.count;
  }
  bool restarted = false;
  absl::StatusOr<Worker> registered = pg::RunTx(
      pool_.get(), "registering worker", [&](pqxx::work& tx) -> absl::StatusOr<Worker> {
        restarted = false;
        const std::string now = TimeParam(clock_->Now());
        // A worker that registers again under its name and token (it restarted) gets
        // its row back, with its new claims, instead of a new row per start.
        pqxx::result again = pg::Exec(
            tx,
            "UPDATE workers SET device_kinds = $3::text[], device_counts = $4::integer[],"
            " device_memories = $5::bigint[], datasets = $6::text[], labels = $7::text[],"
            " free_devices = $8, last_heartbeat = $9::timestamptz,"
            " state = CASE WHEN state = 'DRAINING' THEN state ELSE 'ACTIVE' END"
            " WHERE id = (SELECT id FROM workers WHERE name = $1 AND principal = $2"
            "             ORDER BY seq DESC LIMIT 1 FOR UPDATE) RETURNING id",
            reg.name, reg.principal, ArrayLiteral(kinds), ArrayLiteral(counts),
            ArrayLiteral(memories), ArrayLiteral(reg.datasets), ArrayLiteral(reg.labels),
            total, now);
        if (!again.empty()) {
          restarted = true;
          return LoadWorker(tx, again[0][0].as<std::string>());
        }
        pqxx::row r = pg::Exec1(
            tx,
            "INSERT INTO workers (name, device_kinds, device_counts, device_memories,"
            " datasets, labels, free_devices, last_heartbeat, created_at, principal)"
            " VALUES ($1, $2::text[], $3::integer[], $4::bigint[], $5::text[], "
            "$6::text[],"
            " $7, $8::timestamptz, $8::timestamptz, $9) RETURNING id",
            reg.name, ArrayLiteral(kinds), ArrayLiteral(counts), ArrayLiteral(memories),
            ArrayLiteral(reg.datasets), ArrayLiteral(reg.labels), total, now,
            reg.principal);
        return LoadWorker(tx, r[0].as<std::string>());
      });
  if (!registered.ok() || !restarted) return registered;
  // A worker registers again only after it restarted (or was forgotten and killed its
  // jobs): no attempt it held before is running. Its jobs need not wait for their
  // leases to expire. (Its own transaction: the worker row is not held while the
  // sweeps are locked.)
  absl::Status requeued = pg::RunTx(
      pool_.get(), "requeueing the jobs of a restarted worker",
      [&](pqxx::work& tx) -> absl::Status {
        const absl::Time now = clock_->Now();
        pg::SetActor(tx, reg.principal);
        for (const auto& cand :
             pg::Exec(tx,
                      "SELECT id, sweep_id FROM jobs WHERE worker_id = $1"
                      " AND state = ANY($2::text[]) ORDER BY seq",
                      registered->id, pg::LeaseHoldingStatesParam())) {
          RIB_RETURN_IF_ERROR(LoseContact(tx, cand[0].as<std::string>(),
                                          cand[1].as<std::string>(), "worker_id = $3",
                                          registered->id, /*restarted=*/true, now)
                                  .status());
        }
        return absl::OkStatus();
      });
  if (!requeued.ok()) return requeued;
  return registered;
}

absl::StatusOr<HeartbeatResult> PostgresRepository::Heartbeat(
    const std::string& principal, const std::string& worker_id,
    const std::vector<domain::LeaseRef>& leases, int free_devices) {
  return pg::RunTx(
      pool_.get(), "heartbeat", [&](pqxx::work& tx) -> absl::StatusOr<HeartbeatResult> {
        const absl::Time now = clock_->Now();
        RIB_ASSIGN_OR_RETURN(std::string state,
                             Touch(tx, principal, worker_id, now, free_devices));
        HeartbeatResult out;
        out.drain = state == "DRAINING";
        std::vector<std::string> ids;
        for (const domain::LeaseRef& lease : leases) ids.push_back(lease.job_id);
        pg::LockJobs(tx, ids);
        for (const domain::LeaseRef& lease : leases) {
          absl::StatusOr<pg::LiveAttempt> live =
              pg::LockLiveAttempt(tx, lease.job_id, lease.attempt, worker_id);
          if (absl::IsFailedPrecondition(live.status()) ||
              absl::IsNotFound(live.status())) {
            out.revoked.push_back(lease);
            continue;
          }
          RIB_RETURN_IF_ERROR(live.status());
          pg::Exec(tx, "UPDATE jobs SET lease_expires_at = $2::timestamptz WHERE id = $1",
                   lease.job_id, TimeParam(LeaseDeadline(now)));
        }
        return out;
      });
}

absl::StatusOr<std::optional<domain::Lease>> PostgresRepository::AcquireJob(
    const std::string& principal, const std::string& worker_id, int free_devices,
    const std::string& device_kind) {
  using Out = absl::StatusOr<std::optional<domain::Lease>>;
  return pg::RunTx(pool_.get(), "acquiring job", [&](pqxx::work& tx) -> Out {
    const absl::Time now = clock_->Now();
    RIB_ASSIGN_OR_RETURN(std::string state, Touch(tx, principal, worker_id, now, -1));
    if (state == "DRAINING") return std::optional<domain::Lease>();
    pg::SetActor(tx, principal);
    // Placement (DESIGN §8), the only implementation: a QUEUED job whose datasets the
    // worker has, that fits its free devices, of a device kind it registered (or any
    // kind), and whose owner's quota (if any) has room for it; by priority, then fair
    // share (the owner's devices in use), then age. The oldest fitting job of the
    // first group (QueueGroups) that has one, from the jobs_queued_by_owner index,
    // starting at the group's oldest job: the cost does not grow with the queue.
    // A job fits its owner's quota ($6, -1: none) when the devices its jobs hold ($5)
    // plus this job's stay within it.
    const char* pick_sql =
        "SELECT j.id FROM jobs j JOIN workers w ON w.id = $1"
        // The group's range of the index, as row comparisons so that the planner
        // walks that index in its order (with `owner = $4` it may walk jobs' seq
        // index from the start instead, past every finished job).
        " WHERE j.state = 'QUEUED' AND (j.owner, j.priority, j.seq) >= ($4, $7, $8)"
        " AND (j.owner, j.priority) <= ($4, $7)"
        " AND j.devices <= $2 AND j.datasets <@ w.datasets"
        " AND (j.device_kind = '' OR (j.device_kind = ANY(w.device_kinds)"
        "      AND ($3 = '' OR j.device_kind = $3)))"
        " AND ($6 < 0 OR $5 + j.devices <= $6)"
        " ORDER BY j.owner, j.priority, j.seq LIMIT 1 FOR UPDATE OF j SKIP LOCKED";
    const char* kFitsQuota =
        "(q.devices IS NULL OR COALESCE(u.devices, 0) + j.devices <= q.devices)";
    // The pick must walk the index in its order and stop at the first fitting job.
    // Right after a large submission the statistics still describe a small table
    // (until autovacuum's ANALYZE), and the planner then reads every queued job of
    // the group with a bitmap scan and sorts them: measured 1.9 s at 100k queued.
    // So, for this transaction, no bitmap scans and no sorts.
    pg::Exec(tx,
             "SELECT set_config('enable_bitmapscan', 'off', true),"
             " set_config('enable_sort', 'off', true)");
    std::string id, owner;
    bool has_quota = false;
    for (const QueueGroup& g : QueueGroups(tx)) {
      pqxx::result pick =
          pg::Exec(tx, pick_sql, worker_id, free_devices, device_kind, g.owner,
                   g.devices_in_use, g.quota, g.priority, g.oldest_seq);
      if (pick.empty()) continue;
      id = pick[0][0].as<std::string>();
      owner = g.owner;
      has_quota = g.quota >= 0;
      break;
    }
    if (id.empty()) return std::optional<domain::Lease>();
    if (has_quota) {
      // The owner has a quota: serialise its hand-outs and re-check under the lock, so
      // two coordinators cannot both hand out its last free device.
      pg::Exec(tx, "SELECT pg_advisory_xact_lock(hashtext('rib.quota:' || $1))", owner);
      pqxx::result still = pg::Exec(
          tx,
          absl::StrCat(
              pg::DevicesInUseCte(2),
              "SELECT 1 FROM jobs j LEFT JOIN used u ON u.owner = j.owner"
              " LEFT JOIN quotas q ON q.user_name = j.owner WHERE j.id = $1 AND ",
              kFitsQuota),
          id, pg::LeaseHoldingStatesParam());
      if (still.empty()) return std::optional<domain::Lease>();
    }
    // A hand-out starts a new attempt: the fencing token grows, the last attempt's
    // error is cleared, and the lease gets a fresh secret.
    const std::string secret = auth::NewLeaseSecret();
    pqxx::row r = pg::Exec1(
        tx,
        "UPDATE jobs SET attempt = attempt + 1, worker_id = $2, error = '',"
        " lease_expires_at = $3::timestamptz, lease_secret_hash = $4, report_seq = 0"
        " WHERE id = $1"
        // updated_at is still the time of the job's last state change, to QUEUED.
        " RETURNING attempt, hash, spec::text, last_checkpoint, sweep_id, key,"
        " (extract(epoch from updated_at) * 1000000)::bigint",
        id, worker_id, TimeParam(LeaseDeadline(now)), auth::TokenHash(secret));
    RIB_RETURN_IF_ERROR(
        pg::SetJobState(tx, JobRef{id, r[4].as<std::string>(), r[5].as<std::string>()},
                        JobState::kLeased, "", now));
    domain::Lease lease;
    lease.job_id = id;
    lease.attempt = r[0].as<int>();
    lease.hash = r[1].as<std::string>();
    RIB_ASSIGN_OR_RETURN(lease.spec, rib::spec::JobSpecFromJson(r[2].as<std::string>()));
    lease.resume_checkpoint = r[3].as<std::string>();
    lease.secret = secret;
    lease.queued_for =
        std::max(absl::ZeroDuration(), now - pg::TimeFromMicros(r[6].as<int64_t>()));
    return std::optional<domain::Lease>(std::move(lease));
  });
}

absl::Status PostgresRepository::Report(const JobReport& report) {
  RIB_RETURN_IF_ERROR(internal::ValidateReport(report));
  return pg::RunTx(pool_.get(), absl::StrCat("report for job ", report.job_id),
                   [&](pqxx::work& tx) -> absl::StatusOr<bool> {
                     const absl::Time now = clock_->Now();
                     RIB_ASSIGN_OR_RETURN(
                         pg::LiveAttempt live,
                         pg::LockLiveAttempt(tx, report.job_id, report.attempt, ""));
                     RIB_RETURN_IF_ERROR(pg::CheckLeaseHolder(live, report.reporter,
                                                              report.lease_secret));
                     // Exactly once, the only implementation: a sequenced event at or
                     // below the attempt's highest written one is a re-send.
                     if (report.seq > 0 &&
                         pg::Exec(tx,
                                  "UPDATE jobs SET report_seq = $2 WHERE id = $1"
                                  " AND report_seq < $2 RETURNING 1",
                                  report.job_id, report.seq)
                             .empty()) {
                       return true;
                     }
                     pg::SetActor(tx, report.reporter);
                     RIB_RETURN_IF_ERROR(ApplyReport(tx, live, report, now));
                     return true;
                   })
      .status();
}

absl::Status PostgresRepository::ApplyReport(pqxx::work& tx, const pg::LiveAttempt& live,
                                             const JobReport& report, absl::Time now) {
  const JobRef& job = live.job;
  SweepEvent e;
  e.sweep_id = job.sweep_id;
  e.job_id = job.id;
  e.job_label = job.key;
  switch (report.kind) {
    case JobReport::Kind::kStarted:
      if (live.state == JobState::kLeased) {
        return pg::SetJobState(tx, job, JobState::kRunning, "", now);
      }
      return absl::OkStatus();
    case JobReport::Kind::kProgress: {
      const auto& p = report.progress;
      pg::Exec(
          tx, "UPDATE jobs SET progress = $2, updated_at = $3::timestamptz WHERE id = $1",
          job.id, p.steps > 0 ? static_cast<double>(p.step) / p.steps : 0.0,
          TimeParam(now));
      e.kind = SweepEvent::Kind::kProgress;
      e.progress = p;
      pg::InsertEvent(tx, e, now);
      return absl::OkStatus();
    }
    case JobReport::Kind::kResult: {
      const ResultRow& a = report.result;
      pg::Exec(tx,
               "INSERT INTO results (job_id, attempt, dataset, subset, correct, total,"
               " skipped, recorded_at, correct_bits, evaluated_bits) VALUES ($1, $2, $3,"
               " $4, $5, $6, $7, $8::timestamptz, decode($9, 'hex'), decode($10, 'hex'))"
               " ON CONFLICT (job_id, dataset, subset) DO UPDATE SET attempt ="
               " EXCLUDED.attempt, correct = EXCLUDED.correct, total = EXCLUDED.total,"
               " skipped = EXCLUDED.skipped, recorded_at = EXCLUDED.recorded_at,"
               " correct_bits = EXCLUDED.correct_bits,"
               " evaluated_bits = EXCLUDED.evaluated_bits",
               job.id, report.attempt, a.dataset, a.subset, a.correct, a.total, a.skipped,
               TimeParam(now), pg::BitsParam(a.correct_bits),
               pg::BitsParam(a.evaluated_bits));
      e.kind = SweepEvent::Kind::kResult;
      e.result = a;
      pg::InsertEvent(tx, e, now);
      return absl::OkStatus();
    }
    case JobReport::Kind::kDistance:
      pg::WriteDatasetDistance(tx, job.id, report.attempt, report.distance, now);
      return absl::OkStatus();
    case JobReport::Kind::kCheckpoint:
      pg::Exec(tx,
               "UPDATE jobs SET last_checkpoint = $2, updated_at = $3::timestamptz"
               " WHERE id = $1",
               job.id, report.checkpoint, TimeParam(now));
      pg::AddAttemptCheckpoint(tx, job.id, report.attempt, report.checkpoint);
      return absl::OkStatus();
    case JobReport::Kind::kFinished:
      pg::RecordAttemptFinish(tx, report);
      pg::LockDependents(tx, job.id);
      if (report.ok) {
        // What a success needs, the only implementation: a result for every dataset the
        // job evaluates. A success without them is recorded as the attempt's failure
        // (DATA_LOSS, not retried: the same worker code would lose them again), never
        // cached as a result to reuse.
        pqxx::result missing =
            pg::Exec(tx,
                     "SELECT string_agg(e, ', ' ORDER BY e) FROM"
                     " jsonb_array_elements_text((SELECT spec->'eval_datasets' FROM jobs"
                     "  WHERE id = $1)) e"
                     " WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.job_id = $1"
                     "  AND r.dataset = e)",
                     job.id);
        std::string lacking;
        if (!missing.empty() && !missing[0][0].is_null()) {
          lacking = absl::StrCat("results for ", missing[0][0].as<std::string>());
        } else {
          // ... and, for a job that measures a dataset distance (otdd), that distance.
          pqxx::result distance = pg::Exec(
              tx,
              "SELECT spec->'method'->>'kind', EXISTS (SELECT 1 FROM dataset_distances"
              " WHERE job_id = $1) FROM jobs WHERE id = $1",
              job.id);
          if (!distance.empty() && !distance[0][0].is_null() &&
              spec::MethodReportsDistance(distance[0][0].as<std::string>()) &&
              !distance[0][1].as<bool>()) {
            lacking = "the dataset distance its method measures";
          }
        }
        if (!lacking.empty()) {
          JobReport failed = report;
          failed.ok = false;
          failed.code = absl::StatusCode::kDataLoss;
          failed.error = absl::StrCat("the worker reported success without ", lacking);
          return ApplyReport(tx, live, failed, now);
        }
        pg::Exec(tx, "UPDATE jobs SET final_weights = $2, progress = 1 WHERE id = $1",
                 job.id, report.weights);
        RIB_RETURN_IF_ERROR(pg::SetJobState(tx, job, JobState::kSucceeded, "", now));
        RIB_RETURN_IF_ERROR(pg::AfterTerminal(tx, job, JobState::kSucceeded, now));
      } else {
        const JobState next = scheduling::StateAfterReportedFailure(report, live.attempt,
                                                                    live.max_attempts);
        if (next == JobState::kQueued) {
          // An attempt that does not count (a release) gives the job one more.
          pg::Exec(tx,
                   "UPDATE jobs SET worker_id = NULL, max_attempts = max_attempts + $2"
                   " WHERE id = $1",
                   job.id, scheduling::ConsumesAttempt(report) ? 0 : 1);
        }
        RIB_RETURN_IF_ERROR(
            pg::SetJobState(tx, job, next, scheduling::FailureMessage(report), now));
        if (next == JobState::kFailed) {
          RIB_RETURN_IF_ERROR(pg::AfterTerminal(tx, job, JobState::kFailed, now));
        }
      }
      return pg::RefreshSweepState(tx, job.sweep_id, now);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PostgresRepository::AppendAttemptLog(
    const domain::LogAppend& append) {
  return pg::RunTx(pool_.get(),
                   absl::StrCat("appending to the log of job ", append.job_id),
                   [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
                     return pg::AppendAttemptLog(tx, append, clock_->Now());
                   });
}

absl::StatusOr<int> PostgresRepository::ReleaseOrphanedLeases(
    const std::string& principal, const std::string& worker_id,
    const std::vector<domain::LeaseRef>& held) {
  return pg::RunTx(
      pool_.get(), "releasing orphaned leases",
      [&](pqxx::work& tx) -> absl::StatusOr<int> {
        const absl::Time now = clock_->Now();
        RIB_RETURN_IF_ERROR(Touch(tx, principal, worker_id, now, -1).status());
        pg::SetActor(tx, principal);
        auto is_held = [&](const std::string& id, int attempt) {
          return std::any_of(held.begin(), held.end(), [&](const domain::LeaseRef& l) {
            return l.job_id == id && l.attempt == attempt;
          });
        };
        int released = 0;
        for (const auto& cand :
             pg::Exec(tx,
                      "SELECT id, sweep_id, attempt FROM jobs WHERE worker_id = $1"
                      " AND state = ANY($2::text[]) ORDER BY seq",
                      worker_id, pg::LeaseHoldingStatesParam())) {
          const std::string id = cand[0].as<std::string>();
          const int attempt = cand[2].as<int>();
          if (is_held(id, attempt)) continue;
          const std::string sweep_id = cand[1].as<std::string>();
          // Re-check under the lock: the lease may have ended meanwhile.
          pqxx::result j = pg::Exec(
              tx,
              "SELECT key FROM jobs WHERE id = $1 AND attempt = $2 AND worker_id = $3"
              " AND state = ANY($4::text[]) FOR UPDATE",
              id, attempt, worker_id, pg::LeaseHoldingStatesParam());
          if (j.empty()) continue;
          // Not the job's failure: it gets its attempt back.
          pg::Exec(tx,
                   "UPDATE jobs SET worker_id = NULL, max_attempts = max_attempts + 1"
                   " WHERE id = $1",
                   id);
          RIB_RETURN_IF_ERROR(pg::SetJobState(
              tx, JobRef{id, sweep_id, j[0][0].as<std::string>()}, JobState::kQueued,
              scheduling::OrphanedLeaseMessage(attempt, worker_id), now));
          RIB_LOG(WARNING) << "requeued job " << id << ": "
                           << scheduling::OrphanedLeaseMessage(attempt, worker_id);
          ++released;
        }
        return released;
      });
}

absl::StatusOr<int> PostgresRepository::ExpireLeases() {
  return pg::RunTx(
      pool_.get(), "expiring leases", [&](pqxx::work& tx) -> absl::StatusOr<int> {
        const absl::Time now = clock_->Now();
        const std::string now_param = TimeParam(now);
        const std::string lease_states = pg::LeaseHoldingStatesParam();
        // The grace rule, the only implementation: after a gap in the passes (the
        // control plane was down), give every live lease a lease timeout from now.
        // (The row is made on first use; a NULL or missing row: no pass has run.)
        pqxx::row last =
            pg::Exec1(tx,
                      "WITH prev AS (SELECT last_pass FROM lease_expiry FOR UPDATE),"
                      " upsert AS (INSERT INTO lease_expiry (id, last_pass) VALUES (true,"
                      "   $1::timestamptz) ON CONFLICT (id) DO UPDATE SET last_pass ="
                      "   EXCLUDED.last_pass)"
                      " SELECT extract(epoch from ($1::timestamptz - (SELECT last_pass "
                      "FROM prev)))",
                      now_param);
        const absl::Duration grace_after = options_.repository.expiry_grace_after;
        if (grace_after != absl::InfiniteDuration() &&
            (last[0].is_null() || absl::Seconds(last[0].as<double>()) > grace_after)) {
          pqxx::result extended =
              pg::Exec(tx,
                       "UPDATE jobs SET lease_expires_at = GREATEST(lease_expires_at,"
                       " $1::timestamptz) WHERE state = ANY($2::text[]) RETURNING id",
                       TimeParam(LeaseDeadline(now)), lease_states);
          if (!extended.empty()) {
            RIB_LOG(WARNING)
                << (last[0].is_null()
                        ? std::string("no lease-expiry pass had run")
                        : absl::StrCat(
                              "no lease-expiry pass ran for ",
                              absl::FormatDuration(absl::Seconds(last[0].as<double>()))))
                << ": extended " << extended.size()
                << " live leases by a lease timeout instead of expiring them";
          }
          return 0;
        }
        // When a lease expires, the only implementation: its deadline has passed.
        const char* kExpired =
            "state = ANY($2::text[]) AND lease_expires_at <= $1::timestamptz";
        int changed = 0;
        for (const auto& cand :
             pg::Exec(tx,
                      absl::StrCat("SELECT id, sweep_id FROM jobs WHERE ", kExpired,
                                   " ORDER BY sweep_id, seq LIMIT 200"),
                      now_param, lease_states)) {
          const std::string id = cand[0].as<std::string>();
          RIB_ASSIGN_OR_RETURN(
              bool lost, LoseContact(tx, id, cand[1].as<std::string>(),
                                     "lease_expires_at <= $3::timestamptz", now_param,
                                     /*restarted=*/false, now));
          if (!lost) continue;
          ++changed;
        }
        // A worker silent for a lease timeout is LOST.
        // SKIP LOCKED: this transaction holds job rows, and a worker row is locked
        // before job rows (the lock order); a worker whose row is locked is heartbeating.
        pg::Exec(tx,
                 "UPDATE workers SET state = 'LOST' WHERE id IN (SELECT id FROM workers"
                 " WHERE state = 'ACTIVE' AND last_heartbeat < $1::timestamptz"
                 " FOR UPDATE SKIP LOCKED)",
                 TimeParam(now - options_.repository.lease_timeout));
        return changed;
      });
}

absl::StatusOr<std::vector<Worker>> PostgresRepository::ListWorkers() {
  return pg::RunTx(
      pool_.get(), "listing workers",
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<Worker>> {
        std::vector<Worker> out;
        for (const auto& row : pg::Exec(tx,
                                        absl::StrCat("SELECT ", pg::kWorkerColumns,
                                                     " FROM workers w ORDER BY w.seq"),
                                        pg::LeaseHoldingStatesParam())) {
          RIB_ASSIGN_OR_RETURN(Worker w, pg::RowToWorker(row));
          out.push_back(std::move(w));
        }
        return out;
      });
}

absl::StatusOr<Worker> PostgresRepository::DrainWorker(const std::string& worker_id) {
  return pg::RunTx(
      pool_.get(), "draining worker", [&](pqxx::work& tx) -> absl::StatusOr<Worker> {
        pqxx::result r = pg::Exec(
            tx, "UPDATE workers SET state = 'DRAINING' WHERE id = $1 RETURNING id",
            worker_id);
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
        return LoadWorker(tx, worker_id);
      });
}

absl::StatusOr<Worker> PostgresRepository::UndrainWorker(const std::string& worker_id) {
  return pg::RunTx(
      pool_.get(), "undraining worker", [&](pqxx::work& tx) -> absl::StatusOr<Worker> {
        pqxx::result r = pg::Exec(
            tx,
            "UPDATE workers SET state = CASE WHEN state = 'DRAINING' THEN 'ACTIVE'"
            " ELSE state END WHERE id = $1 RETURNING id",
            worker_id);
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
        return LoadWorker(tx, worker_id);
      });
}

}  // namespace rib::storage
