// Prometheus metrics of the pool (DESIGN §9), read from the repository at every scrape,
// so every coordinator on one database reports the same numbers:
//   rib_jobs{state="QUEUED"}     jobs in each state, over all sweeps (all 7 states)
//   rib_workers{state="ACTIVE"}  registered workers in each state (all 3 states)
// A failed read is logged and that family is left out of the scrape. Thread-safe (as
// the repository).
#ifndef RIB_SERVER_SERVICE_POOL_METRICS_H_
#define RIB_SERVER_SERVICE_POOL_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "server/storage/repository.h"

namespace rib::service {

class PoolMetrics : public prometheus::Collectable {
 public:
  explicit PoolMetrics(storage::Repository* repo) : repo_(repo) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  storage::Repository* const repo_;
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_POOL_METRICS_H_
