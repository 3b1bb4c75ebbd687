// The OTDD results of otdd jobs (migration 0011), inside the caller's transaction.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_DISTANCES_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_DISTANCES_H_

#include <map>
#include <pqxx/pqxx>
#include <string>

#include "absl/time/time.h"
#include "common/robustness.h"

namespace rib::storage::pg {

// Stores attempt `attempt`'s distance for the job, replacing an earlier report.
void WriteDatasetDistance(pqxx::work& tx, const std::string& job_id, int attempt,
                          const DatasetDistanceRow& row, absl::Time now);

// The distances of the sweep's jobs by job id; a job reused from another reads the
// other's row (as GetMatrixJobs reads its results).
std::map<std::string, DatasetDistanceRow> LoadSweepDistances(pqxx::work& tx,
                                                             const std::string& sweep_id);

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_DISTANCES_H_
