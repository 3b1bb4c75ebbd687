#include "worker/agent/agent_metrics.h"

#include <string>
#include <utility>

namespace rib::agent {
namespace {

prometheus::MetricFamily Family(std::string name, std::string help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

prometheus::ClientMetric Value(prometheus::MetricType type, double value,
                               const std::string& label = "",
                               const std::string& label_value = "") {
  prometheus::ClientMetric m;
  if (!label.empty()) m.label.push_back({label, label_value});
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

}  // namespace

std::vector<prometheus::MetricFamily> AgentMetrics::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  const int free = agent_->free_slots();
  auto slots = Family("rib_worker_slots", "Device slots of this worker, free or busy.",
                      MetricType::Gauge);
  slots.metric.push_back(Value(MetricType::Gauge, free, "state", "free"));
  slots.metric.push_back(
      Value(MetricType::Gauge, agent_->total_slots() - free, "state", "busy"));
  out.push_back(std::move(slots));

  auto registrations =
      Family("rib_worker_registrations_total",
             "Registrations with the coordinator (more than 1: it forgot this worker).",
             MetricType::Counter);
  registrations.metric.push_back(Value(MetricType::Counter, agent_->registrations()));
  out.push_back(std::move(registrations));

  auto exits = Family("rib_worker_job_exits_total",
                      "Job attempts this worker started that have ended, by how.",
                      MetricType::Counter);
  for (const auto& [how, n] : agent_->job_exits()) {
    exits.metric.push_back(
        Value(MetricType::Counter, static_cast<double>(n), "how", how));
  }
  out.push_back(std::move(exits));

  auto durations = Family("rib_worker_job_duration_seconds",
                          "Wall time of the job attempts this worker ran, lease to end, by "
                          "how they ended.",
                          MetricType::Histogram);
  for (auto& [how, metric] : agent_->job_durations()) {
    metric.label.push_back({"how", how});
    durations.metric.push_back(std::move(metric));
  }
  out.push_back(std::move(durations));
  return out;
}

}  // namespace rib::agent
