#include "worker/agent/agent_metrics.h"

#include <string>

#include "worker/data/eval_cache_stats.h"
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

  if (!eval_cache_root_.empty()) {
    // The ranks are other processes: their counts meet in the cache folder.
    const data::EvalCacheStats cache = data::ReadEvalCacheStats(eval_cache_root_);
    const struct {
      const char* name;
      const char* help;
      MetricType type;
      int64_t value;
    } rows[] = {
        {"rib_worker_eval_cache_bytes", "Size of the evaluation cache's entries.",
         MetricType::Gauge, cache.bytes},
        {"rib_worker_eval_cache_entries", "Entries in the evaluation cache.",
         MetricType::Gauge, cache.entries},
        {"rib_worker_eval_cache_hits_total",
         "Evaluation cache entries opened that were there (no decoding).",
         MetricType::Counter, cache.hits},
        {"rib_worker_eval_cache_misses_total",
         "Evaluation cache entries that had to be built, or could not be cached.",
         MetricType::Counter, cache.misses},
    };
    for (const auto& row : rows) {
      auto family = Family(row.name, row.help, row.type);
      family.metric.push_back(Value(row.type, static_cast<double>(row.value)));
      out.push_back(std::move(family));
    }
  }
  return out;
}

}  // namespace rib::agent
