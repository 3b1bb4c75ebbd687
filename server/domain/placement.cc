#include "server/domain/placement.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rib::domain {

std::optional<std::string> WhyCannotRun(const Worker& worker, const JobNeeds& job) {
  // A DRAINING worker leases nothing (AcquireJob); a LOST one is not there.
  if (worker.state == WorkerState::kDraining) return std::string("draining");
  if (worker.state == WorkerState::kLost) return std::string("lost (no heartbeat)");
  std::vector<std::string> missing;
  for (const std::string& d : job.datasets) {
    if (std::find(worker.datasets.begin(), worker.datasets.end(), d) ==
        worker.datasets.end()) {
      missing.push_back(d);
    }
  }
  if (!missing.empty()) return absl::StrCat("has no ", absl::StrJoin(missing, ", "));
  // The hand-out compares the job's devices with the free devices the worker asks
  // with, which are of the kind it runs (one kind per rib-worker); its capacity is
  // the most it can ever ask with.
  int capacity = 0;
  for (const Device& d : worker.devices) {
    if (job.device_kind.empty() || d.kind == job.device_kind) {
      capacity = std::max(capacity, d.count);
    }
  }
  if (capacity == 0) {
    return job.device_kind.empty() ? std::string("has no devices")
                                   : absl::StrCat("has no ", job.device_kind, " devices");
  }
  if (capacity < job.devices) {
    return absl::StrCat(
        "has ", capacity, " ", job.device_kind.empty() ? "" : job.device_kind + " ",
        capacity == 1 ? "device" : "devices", ", the job needs ", job.devices);
  }
  return std::nullopt;
}

}  // namespace rib::domain
