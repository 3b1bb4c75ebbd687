// The attempts of a job and their rank logs (migration 0010), inside the caller's
// transaction. The lifecycle of an attempt row (made at hand-out, started, ended) is
// written by pg::RecordAttempt (pg_job_writes.h) with the job's state; this file adds
// what the worker reports about it and reads it all back.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_ATTEMPTS_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_ATTEMPTS_H_

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/types.h"

namespace rib::storage::pg {

// What the coordinator keeps of one rank's log of one attempt: the newest bytes.
inline constexpr int64_t kMaxAttemptLogBytes = 1 << 20;
// The newest checkpoints an attempt row lists (a long job writes one per epoch).
inline constexpr int kMaxAttemptCheckpoints = 50;

// A reported checkpoint of attempt `attempt`.
void AddAttemptCheckpoint(pqxx::work& tx, const std::string& job_id, int attempt,
                          const std::string& path);
// What the worker's `finished` report says about its attempt: code, weights, digest,
// the reproducibility record.
void RecordAttemptFinish(pqxx::work& tx, const domain::JobReport& report);
// Every attempt of the job that has a row, oldest first. DATA_LOSS for a stored
// record that does not parse.
absl::StatusOr<std::vector<domain::Attempt>> LoadAttempts(pqxx::work& tx,
                                                          const std::string& job_id);

// Appends to the attempt's rank log (bytes before the stored end are skipped; a gap
// starts the kept window afresh), keeping the newest kMaxAttemptLogBytes. The
// lease-holder rule of an upload, the only implementation: `append.reporter`
// registered the attempt's worker and `append.lease_secret` is the attempt's secret
// (PERMISSION_DENIED otherwise; NOT_FOUND for an attempt without a row). Returns the
// stored end offset.
absl::StatusOr<int64_t> AppendAttemptLog(pqxx::work& tx, const domain::LogAppend& append,
                                         absl::Time now);
// Up to `max_bytes` of the rank's log from `offset` (clamped to the kept window).
// attempt 0 = the job's latest attempt. NOT_FOUND for an unknown job or attempt.
absl::StatusOr<domain::LogChunk> ReadAttemptLog(pqxx::work& tx, const std::string& job_id,
                                                int attempt, int rank, int64_t offset,
                                                int max_bytes);

// The record as stored (a JSON object) and back.
std::string ReproToJson(const domain::ReproRecord& r);
absl::StatusOr<domain::ReproRecord> ReproFromJson(const std::string& json);

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_ATTEMPTS_H_
