#include "server/storage/postgres/pg_util.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace rib::storage::pg {

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(const std::string& uri, int size) {
  std::unique_ptr<Pool> pool(new Pool(uri, size < 1 ? 1 : size));
  try {
    auto conn = std::make_unique<pqxx::connection>(uri);
    absl::MutexLock l(&pool->mu_);
    pool->idle_.push_back(std::move(conn));
  } catch (...) {
    return StatusFromCurrentException("connecting to PostgreSQL");
  }
  return pool;
}

Pool::Handle Pool::Acquire() {
  {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(this, &Pool::CanTake));
    ++in_use_;
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->is_open()) return Handle(this, std::move(conn));
    }
  }
  try {
    return Handle(this, std::make_unique<pqxx::connection>(uri_));
  } catch (...) {
    absl::MutexLock l(&mu_);
    --in_use_;
    throw;
  }
}

void Pool::Return(std::unique_ptr<pqxx::connection> conn) {
  absl::MutexLock l(&mu_);
  --in_use_;
  if (conn != nullptr && conn->is_open()) idle_.push_back(std::move(conn));
}

namespace {
// libpq messages end in newlines and sometimes span lines; keep one line per status.
std::string Clean(const char* message) {
  std::string out(absl::StripAsciiWhitespace(message));
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return out;
}
}  // namespace

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
