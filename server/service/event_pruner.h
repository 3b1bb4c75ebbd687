// Keeps the event log from growing without bound on a coordinator left running: every
// `interval` it deletes the progress events that finished jobs wrote more than
// `retention` ago (Repository::PruneProgressEvents). State, result and sweep-state events
// stay. Safe with several coordinators on one database. Thread-safe.
#ifndef RIB_SERVER_SERVICE_EVENT_PRUNER_H_
#define RIB_SERVER_SERVICE_EVENT_PRUNER_H_

#include <cstdint>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/scheduling/clock.h"
#include "server/storage/repository.h"

namespace rib::service {

class EventPruner {
 public:
  // Starts the thread; the first pass runs after one `interval`.
  EventPruner(storage::Repository* repo, absl::Duration retention,
              absl::Duration interval,
              scheduling::Clock* clock = scheduling::Clock::Real());
  ~EventPruner();
  EventPruner(const EventPruner&) = delete;
  EventPruner& operator=(const EventPruner&) = delete;

  // One pass now (what the thread does every interval): how many events it deleted.
  absl::StatusOr<int64_t> PruneOnce();

 private:
  void Run();
  storage::Repository* const repo_;
  const absl::Duration retention_;
  const absl::Duration interval_;
  scheduling::Clock* const clock_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_EVENT_PRUNER_H_
