#include "server/storage/postgres/pg_change_notifier.h"

#include <sys/socket.h>

#include <pqxx/pqxx>

#include "common/log.h"
#include "server/storage/postgres/pg_channels.h"
#include "server/storage/postgres/pg_util.h"

namespace rib::storage {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const char* channel, ChangeSignal* signal)
      : pqxx::notification_receiver(c, channel), signal_(signal) {}
  void operator()(const std::string&, int) override { signal_->Notify(); }

 private:
  ChangeSignal* signal_;
};

}  // namespace

// One LISTEN connection with its receivers (which must not outlive it).
struct PgChangeNotifier::Listener {
  Listener(const std::string& conninfo, ChangeSignal* events, ChangeSignal* queue,
           ChangeSignal* tokens)
      : conn(conninfo),
        on_events(conn, pg::kEventsChannel, events),
        on_queue(conn, pg::kQueueChannel, queue),
        on_tokens(conn, pg::kTokensChannel, tokens) {}
  pqxx::connection conn;
  Receiver on_events;
  Receiver on_queue;
  Receiver on_tokens;
};

absl::StatusOr<std::unique_ptr<PgChangeNotifier>> PgChangeNotifier::Create(
    const std::string& uri, pg::ConnectionOptions connection) {
  connection.statement_timeout = absl::ZeroDuration();
  absl::StatusOr<std::string> conninfo = pg::ConnectionString(uri, connection);
  if (!conninfo.ok()) return conninfo.status();
  std::unique_ptr<PgChangeNotifier> out(new PgChangeNotifier(*std::move(conninfo)));
  std::unique_ptr<Listener> first;
  try {
    first = std::make_unique<Listener>(out->conninfo_, &out->events_, &out->queue_,
                                       &out->tokens_);
  } catch (...) {
    return pg::StatusFromCurrentException("listening for changes");
  }
  out->thread_ = std::thread(
      [n = out.get(), l = first.release()] { n->Run(std::unique_ptr<Listener>(l)); });
  return out;
}

PgChangeNotifier::PgChangeNotifier(std::string conninfo)
    : conninfo_(std::move(conninfo)) {}

PgChangeNotifier::~PgChangeNotifier() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgChangeNotifier::Run(std::unique_ptr<Listener> listener) {
  while (!stop_) {
    try {
      if (listener == nullptr) {
        listener = std::make_unique<Listener>(conninfo_, &events_, &queue_, &tokens_);
        // Anything may have happened while we were not listening.
        events_.Notify();
        queue_.Notify();
        tokens_.Notify();
      }
      while (!stop_) listener->conn.await_notification(0, 200'000);
    } catch (const std::exception& e) {
      RIB_LOG(WARNING) << "LISTEN connection lost, retrying: " << e.what();
      listener.reset();
      for (int i = 0; i < 10 && !stop_; ++i) absl::SleepFor(absl::Milliseconds(100));
    }
  }
  // The receivers' destructors send UNLISTEN and wait for the answer, which a server
  // that went silent never sends: with the socket shut down first, UNLISTEN fails at
  // once (libpqxx swallows that) and the server drops the LISTENs with the connection.
  if (listener != nullptr && listener->conn.sock() >= 0) {
    ::shutdown(listener->conn.sock(), SHUT_RDWR);
  }
}

}  // namespace rib::storage
