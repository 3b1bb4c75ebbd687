// ChangeNotifier over PostgreSQL LISTEN/NOTIFY: one connection LISTENs on the channels
// the repository notifies (pg_channels.h) and turns every NOTIFY, from this process or
// another coordinator, into a counter bump. A lost connection is re-opened (after
// 1 s), and every counter is bumped then, since anything may have happened meanwhile.
// Thread-safe.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_CHANGE_NOTIFIER_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_CHANGE_NOTIFIER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/storage/change_notifier.h"
#include "server/storage/change_signal.h"
#include "server/storage/postgres/connection_options.h"

namespace rib::storage {

class PgChangeNotifier : public ChangeNotifier {
 public:
  // Opens the LISTEN connection before returning, so every NOTIFY committed after
  // Create returns is seen. UNAVAILABLE when the server cannot be reached within
  // connection.connect_timeout; INVALID_ARGUMENT for a URI that does not parse. The
  // LISTEN connection gets connection's connect timeout and keepalives (a silently dead
  // server is noticed and the connection re-opened) but no statement_timeout.
  static absl::StatusOr<std::unique_ptr<PgChangeNotifier>> Create(
      const std::string& uri, pg::ConnectionOptions connection = pg::ConnectionOptions());
  // Stops the listening thread: returns within about connect_timeout even while the
  // server is unreachable (the thread waits on it at most that long at a time).
  ~PgChangeNotifier() override;

  uint64_t Counter(Topic topic) override { return Signal(topic).value(); }
  uint64_t WaitForChange(Topic topic, uint64_t seen, absl::Duration timeout) override {
    return Signal(topic).WaitChanged(seen, timeout);
  }

 private:
  struct Listener;
  explicit PgChangeNotifier(std::string conninfo);
  void Run(std::unique_ptr<Listener> listener);
  ChangeSignal& Signal(Topic t) {
    switch (t) {
      case Topic::kQueue:
        return queue_;
      case Topic::kTokens:
        return tokens_;
      case Topic::kEvents:
        break;
    }
    return events_;
  }

  const std::string conninfo_;  // pg::ConnectionString of the URI
  ChangeSignal events_;
  ChangeSignal queue_;
  ChangeSignal tokens_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace rib::storage

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_CHANGE_NOTIFIER_H_
