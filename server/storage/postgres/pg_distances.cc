#include "server/storage/postgres/pg_distances.h"

#include "server/storage/postgres/pg_util.h"

namespace rib::storage::pg {

void WriteDatasetDistance(pqxx::work& tx, const std::string& job_id, int attempt,
                          const DatasetDistanceRow& row, absl::Time now) {
  Exec(tx,
       "INSERT INTO dataset_distances (job_id, attempt, source_dataset, target_dataset,"
       " distance, source_examples, target_examples, epsilon, converged, recorded_at)"
       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz)"
       " ON CONFLICT (job_id) DO UPDATE SET attempt = EXCLUDED.attempt,"
       " source_dataset = EXCLUDED.source_dataset, target_dataset = "
       "EXCLUDED.target_dataset,"
       " distance = EXCLUDED.distance, source_examples = EXCLUDED.source_examples,"
       " target_examples = EXCLUDED.target_examples, epsilon = EXCLUDED.epsilon,"
       " converged = EXCLUDED.converged, recorded_at = EXCLUDED.recorded_at",
       job_id, attempt, row.source_dataset, row.target_dataset, row.distance,
       row.source_examples, row.target_examples, row.epsilon, row.converged,
       TimeParam(now));
}

std::map<std::string, DatasetDistanceRow> LoadSweepDistances(
    pqxx::work& tx, const std::string& sweep_id) {
  std::map<std::string, DatasetDistanceRow> out;
  for (const auto& r :
       Exec(tx,
            "SELECT j.id, d.source_dataset, d.target_dataset, d.distance,"
            " d.source_examples, d.target_examples, d.epsilon, d.converged"
            " FROM jobs j JOIN dataset_distances d ON d.job_id = COALESCE(j.reused_from, "
            "j.id)"
            " WHERE j.sweep_id = $1",
            sweep_id)) {
    DatasetDistanceRow& row = out[r[0].as<std::string>()];
    row.source_dataset = r[1].as<std::string>();
    row.target_dataset = r[2].as<std::string>();
    row.distance = r[3].as<double>();
    row.source_examples = r[4].as<int64_t>();
    row.target_examples = r[5].as<int64_t>();
    row.epsilon = r[6].as<double>();
    row.converged = r[7].as<bool>();
  }
  return out;
}

}  // namespace rib::storage::pg
