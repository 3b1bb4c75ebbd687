// Prometheus metrics of one worker (DESIGN §9), read from its Agent at every scrape:
//   rib_worker_slots{state="free"|"busy"}    device slots
//   rib_worker_registrations_total           registrations with the coordinator
//   rib_worker_job_exits_total{how=...}      attempts ended: reported, failed, drained,
//                                            revoked (Agent::job_exits)
//   rib_worker_job_duration_seconds{how=...} histogram of those attempts' wall time
// Thread-safe (as the agent).
#ifndef RIB_WORKER_AGENT_AGENT_METRICS_H_
#define RIB_WORKER_AGENT_AGENT_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "worker/agent/agent.h"

namespace rib::agent {

class AgentMetrics : public prometheus::Collectable {
 public:
  // `agent` must outlive the metrics' registration.
  explicit AgentMetrics(const Agent* agent) : agent_(agent) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Agent* const agent_;
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_AGENT_METRICS_H_
