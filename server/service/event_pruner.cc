#include "server/service/event_pruner.h"

#include "common/log.h"

namespace rib::service {

EventPruner::EventPruner(storage::Repository* repo, absl::Duration retention,
                         absl::Duration interval, scheduling::Clock* clock)
    : repo_(repo),
      retention_(retention),
      interval_(interval),
      clock_(clock),
      thread_([this] { Run(); }) {}

EventPruner::~EventPruner() {
  stop_.Notify();
  thread_.join();
}

absl::StatusOr<int64_t> EventPruner::PruneOnce() {
  return repo_->PruneProgressEvents(clock_->Now() - retention_);
}

void EventPruner::Run() {
  while (!stop_.WaitForNotificationWithTimeout(interval_)) {
    absl::StatusOr<int64_t> n = PruneOnce();
    if (!n.ok()) {
      RIB_LOG(WARNING) << "event pruning failed: " << n.status();
    } else if (*n > 0) {
      RIB_LOG(INFO) << "pruned " << *n << " progress events of finished jobs older than "
                    << absl::FormatDuration(retention_);
    }
  }
}

}  // namespace rib::service
