// Rows ⇄ domain types for PostgresRepository: the column lists of the SELECTs and the
// functions that read them. A stored state or kind that does not parse is DATA_LOSS
// naming the row (never a silent default). Thread-compatible.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_ROWS_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_ROWS_H_

#include <pqxx/pqxx>
#include <string>

#include "absl/status/statusor.h"
#include "server/domain/types.h"

namespace rib::storage::pg {

// Columns of a job row, in the order RowToJob reads them (19 columns).
extern const char kJobColumns[];
// Columns of a sweep row, in the order RowToSweep reads them (16: seq, then cancelled_by).
extern const char kSweepColumns[];
// Columns of a worker row, in the order RowToWorker reads them.
extern const char kWorkerColumns[];

absl::StatusOr<domain::Job> RowToJob(const pqxx::row& r);
absl::StatusOr<domain::Sweep> RowToSweep(const pqxx::row& r);
absl::StatusOr<domain::Worker> RowToWorker(const pqxx::row& r);
// One row of the events table (SELECT kEventColumns).
extern const char kEventColumns[];
absl::StatusOr<domain::SweepEvent> RowToEvent(const pqxx::row& r,
                                              const std::string& sweep_id);
// dataset, subset, correct, total, skipped from `first_column` on.
ResultRow RowToAccuracy(const pqxx::row& r, int first_column);
// ResultRow::correct_bits (or evaluated_bits) as the text parameter of a
// `decode($n, 'hex')`, and back from an `encode(correct_bits, 'hex')` column (NULL: no
// result row, "").
std::string BitsParam(const std::string& bits);
std::string BitsFromHex(const pqxx::field& hex);

// A stored state name; DATA_LOSS naming `what` (e.g. "job 12") when it does not parse.
absl::StatusOr<domain::JobState> StoredJobState(const std::string& name,
                                                const std::string& what);
// The `kind` column of an event row, as written by InsertEvent.
const char* EventKindName(domain::SweepEvent::Kind kind);

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_ROWS_H_
