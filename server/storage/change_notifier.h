// Change notification, apart from storage (CONVENTIONS: Seams and fakes): counters that
// grow when something happens in any coordinator sharing the database, so long-polls
// and watches can sleep without holding a database connection. The repository only
// publishes (postgres/: pg_notify in the transaction that writes); PgChangeNotifier
// (postgres/pg_change_notifier.h) is the subscriber. Implementations are thread-safe.
#ifndef RIB_SERVER_STORAGE_CHANGE_NOTIFIER_H_
#define RIB_SERVER_STORAGE_CHANGE_NOTIFIER_H_

#include <cstdint>

#include "absl/time/time.h"

namespace rib::storage {

class ChangeNotifier {
 public:
  // kEvents: an event was written to some sweep's log (WatchSweep).
  // kQueue: a job became QUEUED (AcquireJob long-polls).
  // kTokens: a token was revoked (IdentityService's cache of authenticated tokens).
  enum class Topic { kEvents, kQueue, kTokens };

  virtual ~ChangeNotifier() = default;
  // The topic's counter now. It only grows; it may grow without a change (e.g. after
  // a lost connection, when anything may have happened).
  virtual uint64_t Counter(Topic topic) = 0;
  // Blocks until the counter differs from `seen` or `timeout` passes; returns it.
  virtual uint64_t WaitForChange(Topic topic, uint64_t seen, absl::Duration timeout) = 0;
};

}  // namespace rib::storage

#endif  // RIB_SERVER_STORAGE_CHANGE_NOTIFIER_H_
