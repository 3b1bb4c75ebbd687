// The one boundary where libpqxx exceptions become absl::Status (CONVENTIONS: Errors),
// a small connection pool, and helpers for values libpqxx has no traits for.
#ifndef RIB_SERVER_STORAGE_POSTGRES_PG_UTIL_H_
#define RIB_SERVER_STORAGE_POSTGRES_PG_UTIL_H_

#include <exception>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rib::storage::pg {

// Connections to one database, opened lazily, at most `size` at once. Thread-safe.
class Pool {
 public:
  // Opens one connection to check the URI; UNAVAILABLE when the server cannot be
  // reached, INVALID_ARGUMENT for a malformed URI.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(const std::string& uri, int size);

  // A connection on loan; returned to the pool on destruction (dropped when broken).
  class Handle {
   public:
    Handle(Pool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Handle(Handle&&) = default;
    ~Handle() {
      if (conn_ != nullptr) pool_->Return(std::move(conn_));
    }
    pqxx::connection& operator*() { return *conn_; }
    void Discard() {
      conn_.reset();
      pool_->Return(nullptr);
    }

   private:
    Pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  // Blocks until a connection is free. Throws pqxx::broken_connection when a new one
  // cannot be opened (RunTx converts it).
  Handle Acquire();
  const std::string& uri() const { return uri_; }

 private:
  Pool(std::string uri, int size) : uri_(std::move(uri)), size_(size) {}
  void Return(std::unique_ptr<pqxx::connection> conn);
  bool CanTake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() || in_use_ < size_;
  }

  const std::string uri_;
  const int size_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

// Converts the exception being handled into a Status with `what` as context.
absl::Status StatusFromCurrentException(const std::string& what);
bool IsRetryable(const std::exception_ptr& e);

// Runs fn(pqxx::work&) -> absl::StatusOr<T> in a READ COMMITTED transaction and
// commits when it returns OK. Serialization failures, deadlocks and a broken
// connection are retried (up to 4 times); every other exception becomes a Status.
template <typename Fn>
auto RunTx(Pool* pool, const std::string& what, Fn&& fn)
    -> decltype(fn(std::declval<pqxx::work&>())) {
  using Result = decltype(fn(std::declval<pqxx::work&>()));
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    try {
      Pool::Handle conn = pool->Acquire();
      try {
        pqxx::work tx(*conn);
        Result r = fn(tx);
        if (r.ok()) tx.commit();
        return r;
      } catch (const pqxx::broken_connection&) {
        conn.Discard();
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

// Text array literal for a `$n::text[]` parameter.
std::string ArrayLiteral(const std::vector<std::string>& values);
// Splits an array_to_string(col, chr(31)) column.
std::vector<std::string> SplitUnitSeparated(const std::string& joined);
// A timestamptz parameter ("...::timestamptz") and a micros column back.
std::string TimeParam(absl::Time t);
inline absl::Time TimeFromMicros(int64_t us) { return absl::FromUnixMicros(us); }

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_PG_UTIL_H_
