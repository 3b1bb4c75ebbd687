// What the dashboard's pool page shows beside the workers: how many jobs each owner has
// queued, and how many jobs finished in each of the last hours. Read through
// SweepService::ListJobs (the ListJobs RPC's query), so it counts what `rib jobs`
// lists. Thread-safe (as SweepService).
#ifndef RIB_SERVER_SERVICE_POOL_SUMMARY_H_
#define RIB_SERVER_SERVICE_POOL_SUMMARY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/service/sweep_service.h"

namespace rib::service {

// Hours of history in PoolSummary::finished_per_hour.
inline constexpr int kPoolSummaryHours = 24;

struct PoolSummary {
  absl::Time now;
  std::map<std::string, int> queued_by_owner;  // owners with no queued job are absent
  // [0] = jobs that reached SUCCEEDED or FAILED within the hour before `now`, [1] the
  // hour before that, ...; kPoolSummaryHours entries. A job's finish time is its last
  // state change (Job::updated_at).
  std::vector<int> finished_per_hour;
  std::vector<int> failed_per_hour;  // the FAILED ones among them, same buckets
};

// Pages through the QUEUED, SUCCEEDED and FAILED jobs of every sweep. The Repository's
// codes on failure.
absl::StatusOr<PoolSummary> SummarizePool(SweepService* sweeps, absl::Time now);

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_POOL_SUMMARY_H_
