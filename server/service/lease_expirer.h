// Lease expiry, run by every coordinator: every `interval` it calls
// Repository::ExpireLeases, which requeues (or fails, past max_attempts) the jobs whose
// lease was not renewed in time and marks silent workers LOST. Safe with several
// coordinators on one database (each expired lease is handled once). Thread-safe.
#ifndef RIB_SERVER_SERVICE_LEASE_EXPIRER_H_
#define RIB_SERVER_SERVICE_LEASE_EXPIRER_H_

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/storage/repository.h"

namespace rib::service {

class LeaseExpirer {
 public:
  // Starts the thread; the first pass runs after one `interval`. `repo` is not owned
  // and must outlive this object.
  LeaseExpirer(storage::Repository* repo, absl::Duration interval);
  // Stops the thread (waits for a pass in progress).
  ~LeaseExpirer();
  LeaseExpirer(const LeaseExpirer&) = delete;
  LeaseExpirer& operator=(const LeaseExpirer&) = delete;

 private:
  void Run();
  storage::Repository* const repo_;
  const absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_LEASE_EXPIRER_H_
