#include "server/storage/postgres/pg_util.h"

#include <libpq-fe.h>
#include <sys/socket.h>

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace rib::storage::pg {

namespace {
// libpq messages end in newlines and sometimes span lines; keep one line per status.
std::string Clean(const char* message) {
  std::string out(absl::StripAsciiWhitespace(message));
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return out;
}

// At least 1: libpq reads 0 as "wait forever".
int64_t WholeSeconds(absl::Duration d) {
  return std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1))));
}

// A conninfo value in single quotes, backslash-escaped (libpq's key='value' syntax).
std::string Quote(absl::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

absl::StatusOr<std::string> ConnectionString(const std::string& uri,
                                             const ConnectionOptions& options) {
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(uri.c_str(), &error);
  if (parsed == nullptr) {
    std::string why = error != nullptr ? Clean(error) : "out of memory";
    PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat("database URI does not parse: ", why));
  }
  std::vector<std::pair<std::string, std::string>> given;
  for (const PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) given.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(parsed);
  auto find = [&](absl::string_view key) -> std::string* {
    for (auto& [k, v] : given) {
      if (k == key) return &v;
    }
    return nullptr;
  };
  auto add_default = [&](const char* key, std::string value) {
    if (find(key) == nullptr) given.emplace_back(key, std::move(value));
  };
  add_default("connect_timeout", absl::StrCat(WholeSeconds(options.connect_timeout)));
  add_default("keepalives", "1");
  add_default("keepalives_idle", absl::StrCat(WholeSeconds(options.keepalives_idle)));
  add_default("keepalives_interval",
              absl::StrCat(WholeSeconds(options.keepalives_interval)));
  add_default("keepalives_count", absl::StrCat(std::max(1, options.keepalives_count)));
  add_default("tcp_user_timeout",
              absl::StrCat(absl::ToInt64Milliseconds(options.tcp_user_timeout)));
  if (options.statement_timeout > absl::ZeroDuration()) {
    const std::string setting = absl::StrCat(
        "-c statement_timeout=",
        std::max<int64_t>(1, absl::ToInt64Milliseconds(options.statement_timeout)));
    std::string* server_options = find("options");
    if (server_options == nullptr) {
      given.emplace_back("options", setting);
    } else if (!absl::StrContains(*server_options, "statement_timeout")) {
      *server_options = absl::StrCat(*server_options, " ", setting);
    }
  }
  std::vector<std::string> parts;
  for (const auto& [key, value] : given) parts.push_back(key + "=" + Quote(value));
  return absl::StrJoin(parts, " ");
}

Pool::Pool(std::string conninfo, const Options& options)
    : conninfo_(std::move(conninfo)), options_([&] {
        Options o = options;
        o.size = std::max(1, o.size);
        return o;
      }()) {}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(const std::string& uri,
                                                   const Options& options) {
  absl::StatusOr<std::string> conninfo = ConnectionString(uri, options.connection);
  if (!conninfo.ok()) return conninfo.status();
  std::unique_ptr<Pool> pool(new Pool(*std::move(conninfo), options));
  try {
    auto conn = std::make_unique<pqxx::connection>(pool->conninfo_);
    absl::MutexLock l(&pool->mu_);
    pool->idle_.push_back(std::move(conn));
  } catch (...) {
    return StatusFromCurrentException("connecting to PostgreSQL");
  }
  return pool;
}

namespace {
absl::Status Closed() {
  return absl::UnavailableError("the database connection pool is closed (shutting down)");
}
}  // namespace

absl::StatusOr<Pool::Handle> Pool::Acquire(absl::Time deadline) {
  const absl::Time start = absl::Now();
  deadline = std::min(deadline, start + options_.acquire_timeout);
  {
    absl::MutexLock l(&mu_);
    if (!mu_.AwaitWithDeadline(absl::Condition(this, &Pool::CanTake), deadline)) {
      return absl::UnavailableError(absl::StrCat(
          "no database connection free within ",
          absl::FormatDuration(absl::Ceil(deadline - start, absl::Milliseconds(1))),
          " (pool of ", options_.size, ", all in use)"));
    }
    if (closed_) return Closed();
    ++in_use_;
    // Idle connections the server closed meanwhile are dropped here, not handed out.
    while (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->is_open()) return Lend(std::move(conn));
    }
  }
  std::unique_ptr<pqxx::connection> conn;
  absl::Status failed;
  try {
    conn = std::make_unique<pqxx::connection>(conninfo_);
  } catch (...) {
    failed = StatusFromCurrentException("connecting to PostgreSQL");
  }
  absl::MutexLock l(&mu_);
  if (!failed.ok()) {
    --in_use_;
    return failed;
  }
  return Lend(std::move(conn));
}

absl::StatusOr<Pool::Handle> Pool::Lend(std::unique_ptr<pqxx::connection> conn) {
  if (closed_) {
    --in_use_;
    return Closed();
  }
  lent_.insert(conn.get());
  return Handle(this, std::move(conn));
}

void Pool::Return(std::unique_ptr<pqxx::connection> conn, bool broken) {
  absl::MutexLock l(&mu_);
  --in_use_;
  lent_.erase(conn.get());
  if (!closed_ && !broken && conn->is_open()) idle_.push_back(std::move(conn));
}

void Pool::Close() {
  absl::MutexLock l(&mu_);
  closed_ = true;
  idle_.clear();
  // Only the socket is shut down: the connection object stays its borrower's, who
  // sees a broken connection and returns it.
  for (pqxx::connection* conn : lent_) {
    if (conn->sock() >= 0) ::shutdown(conn->sock(), SHUT_RDWR);
  }
}

absl::Status StatusFromCurrentException(const std::string& what) {
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(
        absl::StrCat(what, ": database unavailable: ", Clean(e.what())));
  } catch (const pqxx::transaction_rollback& e) {
    return absl::AbortedError(
        absl::StrCat(what, ": transaction rolled back: ", Clean(e.what())));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnavailableError(
        absl::StrCat(what, ": commit in doubt: ", Clean(e.what())));
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError(absl::StrCat(what, ": ", Clean(e.what())));
  } catch (const pqxx::integrity_constraint_violation& e) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": ", Clean(e.what())));
  } catch (const pqxx::data_exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", Clean(e.what())));
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "57014") {  // query_canceled: statement_timeout, or cancelled
      return absl::UnavailableError(
          absl::StrCat(what, ": statement cancelled: ", Clean(e.what())));
    }
    return absl::InternalError(
        absl::StrCat(what, ": SQL error ", e.sqlstate(), ": ", Clean(e.what())));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", Clean(e.what())));
  } catch (...) {
    return absl::UnknownError(absl::StrCat(what, ": unknown exception"));
  }
}

bool IsRetryable(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const pqxx::transaction_rollback&) {
    return true;
  } catch (const pqxx::broken_connection&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string PreparedName(pqxx::work& tx, const std::string& sql) {
  // 64 bits of the text: a collision would make libpqxx throw ("inconsistent
  // redefinition"), never run the wrong statement.
  std::string name =
      absl::StrCat("rib_", absl::Hex(std::hash<std::string>{}(sql), absl::kZeroPad16));
  tx.conn().prepare(name, sql);  // a no-op once defined with this text
  return name;
}

std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += "\"";
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

std::vector<std::string> SplitUnitSeparated(const std::string& joined) {
  if (joined.empty()) return {};
  return absl::StrSplit(joined, '\x1f');
}

std::string TimeParam(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6S+00:00", t, absl::UTCTimeZone());
}

}  // namespace rib::storage::pg
