// The one boundary where libpqxx exceptions become absl::Status (CONVENTIONS: Errors),
// a small connection pool, and helpers for values libpqxx has no traits for.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_UTIL_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_UTIL_H_

#include <exception>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/postgres/connection_options.h"

namespace rib::storage::pg {

// `uri` (a postgresql:// URI or a key=value conninfo) as a key=value conninfo with the
// settings of `options` that it does not give itself; statement_timeout is appended to
// the user's `options` parameter ("-c statement_timeout=...") unless that mentions it.
// INVALID_ARGUMENT, with libpq's reason, when `uri` does not parse.
absl::StatusOr<std::string> ConnectionString(const std::string& uri,
                                             const ConnectionOptions& options);

// Connections to one database, opened lazily, at most `size` at once. Thread-safe.
class Pool {
 public:
  struct Options {
    // Connections open at once. Default 8 (at least 1).
    int size = 8;
    // How long Acquire waits for a free connection before answering UNAVAILABLE.
    // Default 10 s: with every connection busy that long, the database is stuck or
    // overloaded, and the caller's retry is better than a thread parked forever.
    absl::Duration acquire_timeout = absl::Seconds(10);
    ConnectionOptions connection;
  };

  // Opens one connection to check the URI; UNAVAILABLE when the server cannot be
  // reached (within connection.connect_timeout), INVALID_ARGUMENT for a malformed URI.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(const std::string& uri,
                                                      const Options& options);

  // A connection on loan; returned to the pool on destruction, dropped instead when it
  // is broken or Discard() was called.
  class Handle {
   public:
    Handle(Handle&& other) noexcept
        : pool_(other.pool_), conn_(std::move(other.conn_)), broken_(other.broken_) {}
    Handle& operator=(Handle&&) = delete;
    ~Handle() {
      if (conn_ != nullptr) pool_->Return(std::move(conn_), broken_);
    }
    pqxx::connection& operator*() { return *conn_; }
    // Drop the connection instead of returning it (it broke in use).
    void Discard() { broken_ = true; }

   private:
    friend class Pool;
    Handle(Pool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;  // null once moved from
    bool broken_ = false;
  };

  // A free connection (an idle one, or a new one while fewer than `size` are open).
  // UNAVAILABLE naming the wait when none is free within acquire_timeout (or before
  // `deadline`, when sooner), when a new connection cannot be opened, and after Close.
  absl::StatusOr<Handle> Acquire(absl::Time deadline = absl::InfiniteFuture());
  // Ends every wait on the database, for a shutdown while it is unreachable: waiting
  // and later Acquires answer UNAVAILABLE, and the sockets of connections on loan are
  // shut down, so a statement blocked on a silent server fails at once (its RunTx
  // answers UNAVAILABLE). Final; the pool must still outlive its handles.
  void Close();
  // The connection string actually used (with the ConnectionOptions added).
  const std::string& conninfo() const { return conninfo_; }

 private:
  Pool(std::string conninfo, const Options& options);
  // Registers a connection as on loan; drops it and answers UNAVAILABLE after Close.
  absl::StatusOr<Handle> Lend(std::unique_ptr<pqxx::connection> conn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Return(std::unique_ptr<pqxx::connection> conn, bool broken);
  bool CanTake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || !idle_.empty() || in_use_ < options_.size;
  }

  const std::string conninfo_;
  const Options options_;
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  // On loan (Close shuts their sockets down; they are closed only after Return).
  std::set<pqxx::connection*> lent_ ABSL_GUARDED_BY(mu_);
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;  // slots taken: handles out, or being opened
};

// Converts the exception being handled into a Status with `what` as context.
absl::Status StatusFromCurrentException(const std::string& what);
bool IsRetryable(const std::exception_ptr& e);

// Runs fn(pqxx::work&) -> absl::StatusOr<T> in a READ COMMITTED transaction and
// commits when it returns OK. Serialization failures, deadlocks and a connection that
// broke in use are retried (up to 4 times); UNAVAILABLE from Acquire (no connection
// free in time, the server unreachable) is returned at once with `what` as context,
// since retrying here would only multiply the wait. Every other exception becomes a
// Status.
template <typename Fn>
auto RunTx(Pool* pool, const std::string& what, Fn&& fn)
    -> decltype(fn(std::declval<pqxx::work&>())) {
  using Result = decltype(fn(std::declval<pqxx::work&>()));
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<Pool::Handle> conn = pool->Acquire();
    if (!conn.ok()) {
      return Result(absl::Status(conn.status().code(),
                                 absl::StrCat(what, ": ", conn.status().message())));
    }
    try {
      try {
        pqxx::work tx(**conn);
        Result r = fn(tx);
        if (r.ok()) tx.commit();
        return r;
      } catch (const pqxx::broken_connection&) {
        conn->Discard();
        throw;
      }
    } catch (...) {
      last = StatusFromCurrentException(what);
      if (!IsRetryable(std::current_exception())) return Result(last);
      absl::SleepFor(absl::Milliseconds(5 * (attempt + 1)));
    }
  }
  return Result(last);
}

// Every statement of the repository goes through these (not tx.exec_params): `sql` runs
// as a prepared statement of the transaction's connection, defined on its first use
// there under a name derived from the text (libpqxx registers it with the server when
// first executed, and again after a reconnect), so the server parses and plans each
// statement once per connection instead of once per call: on the control plane's hot
// path parsing and planning were most of PostgreSQL's time (bench/coordinator). `sql`
// must be one statement with $n parameters, and never contain a value: each distinct
// text stays prepared for the connection's life.
std::string PreparedName(pqxx::work& tx, const std::string& sql);
template <typename... Args>
pqxx::result Exec(pqxx::work& tx, const std::string& sql, Args&&... args) {
  return tx.exec_prepared(PreparedName(tx, sql), std::forward<Args>(args)...);
}
// Exactly one row, else pqxx::unexpected_rows (as exec_params1).
template <typename... Args>
pqxx::row Exec1(pqxx::work& tx, const std::string& sql, Args&&... args) {
  return tx.exec_prepared1(PreparedName(tx, sql), std::forward<Args>(args)...);
}

// Text array literal for a `$n::text[]` parameter.
std::string ArrayLiteral(const std::vector<std::string>& values);
// Splits an array_to_string(col, chr(31)) column.
std::vector<std::string> SplitUnitSeparated(const std::string& joined);
// A timestamptz parameter ("...::timestamptz") and a micros column back.
std::string TimeParam(absl::Time t);
inline absl::Time TimeFromMicros(int64_t us) { return absl::FromUnixMicros(us); }

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_UTIL_H_
