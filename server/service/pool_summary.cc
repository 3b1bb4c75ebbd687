#include "server/service/pool_summary.h"

#include <functional>

#include "common/status_macros.h"

namespace rib::service {
namespace {

// Calls `each` for every job in `state`, page by page.
absl::Status ForEachJob(SweepService* sweeps, domain::JobState state,
                        const std::function<void(const domain::Job&)>& each) {
  storage::JobFilter filter;
  filter.state = state;
  do {
    RIB_ASSIGN_OR_RETURN(storage::JobList page, sweeps->ListJobs(filter));
    for (const domain::Job& j : page.jobs) each(j);
    filter.page_token = page.next_page_token;
  } while (!filter.page_token.empty());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PoolSummary> SummarizePool(SweepService* sweeps, absl::Time now) {
  PoolSummary out;
  out.now = now;
  out.finished_per_hour.assign(kPoolSummaryHours, 0);
  out.failed_per_hour.assign(kPoolSummaryHours, 0);
  RIB_RETURN_IF_ERROR(
      ForEachJob(sweeps, domain::JobState::kQueued,
                 [&](const domain::Job& j) { ++out.queued_by_owner[j.owner]; }));
  for (domain::JobState state :
       {domain::JobState::kSucceeded, domain::JobState::kFailed}) {
    RIB_RETURN_IF_ERROR(ForEachJob(sweeps, state, [&](const domain::Job& j) {
      const int64_t hour = absl::ToInt64Hours(now - j.updated_at);  // whole hours ago
      if (j.updated_at > now || hour >= kPoolSummaryHours) return;
      ++out.finished_per_hour[hour];
      if (state == domain::JobState::kFailed) ++out.failed_per_hour[hour];
    }));
  }
  return out;
}

}  // namespace rib::service
