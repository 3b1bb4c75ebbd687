// Prometheus metrics of one worker (DESIGN §9), read from its Agent at every scrape:
//   rib_worker_slots{state="free"|"busy"}    device slots
//   rib_worker_registrations_total           registrations with the coordinator
//   rib_worker_job_exits_total{how=...}      attempts ended: reported, failed, drained,
//                                            revoked (Agent::job_exits)
//   rib_worker_job_duration_seconds{how=...} histogram of those attempts' wall time
//   rib_worker_eval_cache_bytes, _entries     the evaluation cache folder now (scanned)
//   rib_worker_eval_cache_hits_total, _misses_total  entry opens by the ranks, from the
//                                            folder's stats file (eval_cache_stats.h)
// Thread-safe (as the agent).
#ifndef RIB_WORKER_AGENT_AGENT_METRICS_H_
#define RIB_WORKER_AGENT_AGENT_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

#include "worker/agent/agent.h"

namespace rib::agent {

class AgentMetrics : public prometheus::Collectable {
 public:
  // `agent` must outlive the metrics' registration.
  // `eval_cache_root`: the ranks' evaluation cache folder, "" = none (no cache metrics).
  explicit AgentMetrics(const Agent* agent, std::string eval_cache_root = "")
      : agent_(agent), eval_cache_root_(std::move(eval_cache_root)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Agent* const agent_;
  const std::string eval_cache_root_;
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_AGENT_METRICS_H_
