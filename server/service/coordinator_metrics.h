// Latency histograms the coordinator observes as it serves (DESIGN §9), beside the pool
// counts of pool_metrics.h that are read from the database at each scrape:
//   rib_rpc_duration_seconds{service,method,code}  every gRPC call, from its arrival to
//       its status (AcquireJob's long-poll wait and a WatchSweep stream's life included)
//   rib_job_queue_wait_seconds  from a job's entering QUEUED to its hand-out
// These are this coordinator's own observations (each coordinator on one database
// counts the calls it served). Thread-safe.
#ifndef RIB_SERVER_SERVICE_COORDINATOR_METRICS_H_
#define RIB_SERVER_SERVICE_COORDINATOR_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rib::service {

class CoordinatorMetrics {
 public:
  CoordinatorMetrics();
  CoordinatorMetrics(const CoordinatorMetrics&) = delete;
  CoordinatorMetrics& operator=(const CoordinatorMetrics&) = delete;

  // `full_method` as gRPC names it: "/rib.v1.WorkerApi/AcquireJob". `code` is the
  // status code's name ("OK", "NOT_FOUND").
  void ObserveRpc(absl::string_view full_method, absl::string_view code,
                  absl::Duration took);
  void ObserveQueueWait(absl::Duration waited);

  // For the metrics and dashboard servers' scrapes.
  std::shared_ptr<prometheus::Collectable> collectable() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* rpc_;
  prometheus::Histogram* queue_wait_;
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_COORDINATOR_METRICS_H_
