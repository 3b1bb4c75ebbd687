#include "server/service/lease_expirer.h"

#include "common/log.h"

namespace rib::service {

LeaseExpirer::LeaseExpirer(storage::Repository* repo, absl::Duration interval)
    : repo_(repo), interval_(interval), thread_([this] { Run(); }) {}

LeaseExpirer::~LeaseExpirer() {
  stop_.Notify();
  thread_.join();
}

void LeaseExpirer::Run() {
  while (!stop_.WaitForNotificationWithTimeout(interval_)) {
    absl::StatusOr<int> n = repo_->ExpireLeases();
    if (!n.ok()) {
      RIB_LOG(WARNING) << "lease expiry failed: " << n.status();
    } else if (*n > 0) {
      RIB_LOG(INFO) << "requeued or failed " << *n << " jobs with expired leases";
    }
  }
}

}  // namespace rib::service
