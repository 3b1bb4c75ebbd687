#include "server/service/worker_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/status_macros.h"

namespace rib::service {

WorkerService::WorkerService(storage::Repository* repo, storage::ChangeNotifier* changes,
                             WorkerServiceOptions options)
    : repo_(repo), changes_(changes), options_(options) {}

absl::StatusOr<Registration> WorkerService::Register(
    const storage::WorkerRegistration& reg) {
  for (const std::string& d : reg.datasets) {
    RIB_RETURN_IF_ERROR(ValidateName(d, "dataset key"));
  }
  for (const domain::Device& d : reg.devices) {
    if (d.count < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("device '", d.kind, "' has a negative count ", d.count));
    }
  }
  RIB_ASSIGN_OR_RETURN(domain::Worker worker, repo_->RegisterWorker(reg));
  RIB_LOG(INFO) << "worker " << worker.id << " (" << reg.name << ") registered with "
                << reg.datasets.size() << " datasets";
  return Registration{std::move(worker), options_.heartbeat_interval,
                      options_.lease_timeout};
}

absl::StatusOr<storage::HeartbeatResult> WorkerService::Heartbeat(
    const std::string& worker_id, const std::vector<domain::LeaseRef>& leases,
    int free_devices) {
  return repo_->Heartbeat(worker_id, leases, free_devices);
}

absl::StatusOr<std::optional<domain::Lease>> WorkerService::Acquire(
    const std::string& worker_id, int free_devices, const std::string& device_kind,
    absl::Duration wait, const std::function<bool()>& cancelled) {
  const absl::Time deadline = absl::Now() + std::min(wait, options_.max_wait);
  for (;;) {
    const uint64_t seen = changes_->Counter(storage::ChangeNotifier::Topic::kQueue);
    RIB_ASSIGN_OR_RETURN(std::optional<domain::Lease> lease,
                         repo_->AcquireJob(worker_id, free_devices, device_kind));
    if (lease.has_value()) {
      RIB_LOG(INFO) << "job " << lease->job_id << " attempt " << lease->attempt
                    << " leased to worker " << worker_id;
      return lease;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() || cancelled()) return lease;
    // No connection is held here: wait for any event (a job queued, a lease expired),
    // or re-check after `poll`.
    changes_->WaitForChange(storage::ChangeNotifier::Topic::kQueue, seen,
                            std::min(left, options_.poll));
  }
}

absl::Status WorkerService::Report(const domain::JobReport& report) {
  absl::Status s = repo_->Report(report);
  if (absl::IsFailedPrecondition(s)) RIB_LOG(WARNING) << s.message();
  return s;
}

absl::StatusOr<std::vector<domain::Worker>> WorkerService::ListWorkers() {
  return repo_->ListWorkers();
}

absl::StatusOr<domain::Worker> WorkerService::Drain(const std::string& worker_id) {
  return repo_->DrainWorker(worker_id);
}

}  // namespace rib::service
