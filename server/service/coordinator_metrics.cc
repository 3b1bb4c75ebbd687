#include "server/service/coordinator_metrics.h"

#include <string>

namespace rib::service {
namespace {

// Calls take from well under a millisecond (a heartbeat) to a minute (a long-poll).
const prometheus::Histogram::BucketBoundaries& RpcBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  return *b;
}

// A job waits from none (an idle pool) to days (a busy one).
const prometheus::Histogram::BucketBoundaries& QueueBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.1,  1,    5,        15,       60,        300,   900,
      1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400};
  return *b;
}

}  // namespace

CoordinatorMetrics::CoordinatorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpc_(&prometheus::BuildHistogram()
                .Name("rib_rpc_duration_seconds")
                .Help("gRPC calls served by this coordinator, arrival to status, by "
                      "service, method and status code.")
                .Register(*registry_)),
      queue_wait_(&prometheus::BuildHistogram()
                       .Name("rib_job_queue_wait_seconds")
                       .Help("Time jobs handed out by this coordinator waited in QUEUED.")
                       .Register(*registry_)
                       .Add({}, QueueBuckets())) {}

void CoordinatorMetrics::ObserveRpc(absl::string_view full_method, absl::string_view code,
                                    absl::Duration took) {
  // "/rib.v1.WorkerApi/AcquireJob" → service "rib.v1.WorkerApi", method "AcquireJob".
  absl::string_view path = full_method;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  const size_t slash = path.find('/');
  const std::string service(slash == absl::string_view::npos ? ""
                                                             : path.substr(0, slash));
  const std::string method(slash == absl::string_view::npos ? path
                                                            : path.substr(slash + 1));
  rpc_->Add({{"service", service}, {"method", method}, {"code", std::string(code)}},
            RpcBuckets())
      .Observe(absl::ToDoubleSeconds(took));
}

void CoordinatorMetrics::ObserveQueueWait(absl::Duration waited) {
  queue_wait_->Observe(absl::ToDoubleSeconds(waited));
}

}  // namespace rib::service
