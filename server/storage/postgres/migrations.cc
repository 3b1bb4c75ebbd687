#include "server/storage/postgres/migrations.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "server/storage/postgres/pg_util.h"

namespace rib::storage::pg {
namespace fs = std::filesystem;

// Arbitrary constant shared by every coordinator: the advisory lock's key.
constexpr int64_t kMigrationLockKey = 0x72696200;  // "rib\0"

absl::StatusOr<std::vector<Migration>> LoadMigrations(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("migrations folder ", dir, " does not exist"));
  }
  std::vector<Migration> out;
  std::set<int> versions;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    const size_t us = name.find('_');
    int version = 0;
    if (us == std::string::npos || !absl::SimpleAtoi(name.substr(0, us), &version) ||
        version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration ", name, " does not start with a number and '_'"));
    }
    if (!versions.insert(version).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two migrations have version ", version, " (", name, ")"));
    }
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back({version, name, ss.str()});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

absl::StatusOr<int> ApplyMigrations(const std::string& database_uri,
                                    const std::vector<Migration>& migrations,
                                    ConnectionOptions connection) {
  RIB_LOG(DEBUG) << "checking " << migrations.size() << " migrations";
  Pool::Options options;
  options.size = 1;
  options.connection = connection;
  options.connection.statement_timeout = absl::ZeroDuration();
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Create(database_uri, options);
  if (!pool.ok()) return pool.status();
  return RunTx(
      pool->get(), "applying migrations", [&](pqxx::work& tx) -> absl::StatusOr<int> {
        tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
        tx.exec0(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");
        std::set<int> applied;
        for (const auto& row : tx.exec("SELECT version FROM schema_migrations")) {
          applied.insert(row[0].as<int>());
        }
        int count = 0;
        for (const Migration& m : migrations) {
          if (applied.count(m.version) > 0) continue;
          RIB_LOG(INFO) << "applying migration " << m.name;
          tx.exec0(m.sql);
          tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                         m.version, m.name);
          ++count;
        }
        return count;
      });
}

}  // namespace rib::storage::pg
