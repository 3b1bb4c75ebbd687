#include "server/service/pool_metrics.h"

#include <map>
#include <string>

#include "common/log.h"
#include "server/domain/types.h"

namespace rib::service {
namespace {

prometheus::MetricFamily Gauges(const std::string& name, const std::string& help,
                                const std::map<std::string, int>& by_state) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  for (const auto& [state, n] : by_state) {
    prometheus::ClientMetric m;
    m.label.push_back({"state", state});
    m.gauge.value = n;
    family.metric.push_back(std::move(m));
  }
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> PoolMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  std::map<std::string, int> jobs;
  bool jobs_ok = true;
  for (domain::JobState state : domain::kAllJobStates) {
    storage::JobFilter filter;
    filter.state = state;
    filter.page_size = 1;  // only the total is needed
    absl::StatusOr<storage::JobList> list = repo_->ListJobs(filter);
    if (!list.ok()) {
      RIB_LOG(WARNING) << "metrics: counting " << domain::JobStateName(state)
                       << " jobs: " << list.status();
      jobs_ok = false;
      break;
    }
    jobs[domain::JobStateName(state)] = list->total;
  }
  if (jobs_ok)
    out.push_back(Gauges("rib_jobs", "Jobs in each state, over all sweeps.", jobs));

  absl::StatusOr<std::vector<domain::Worker>> workers = repo_->ListWorkers();
  if (workers.ok()) {
    std::map<std::string, int> by_state;
    for (auto s : {domain::WorkerState::kActive, domain::WorkerState::kDraining,
                   domain::WorkerState::kLost}) {
      by_state[domain::WorkerStateName(s)] = 0;
    }
    for (const domain::Worker& w : *workers) ++by_state[domain::WorkerStateName(w.state)];
    out.push_back(Gauges("rib_workers", "Registered workers in each state.", by_state));
  } else {
    RIB_LOG(WARNING) << "metrics: listing workers: " << workers.status();
  }
  return out;
}

}  // namespace rib::service
