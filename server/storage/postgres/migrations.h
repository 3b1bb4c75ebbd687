// Schema migrations: numbered SQL files (migrations/NNNN_name.sql), applied in order by
// the coordinator at start, all pending ones in ONE transaction under a
// pg_advisory_xact_lock so two coordinators starting at once never both migrate.
// Applied versions are recorded in schema_migrations.
#ifndef RIB_SERVER_STORAGE_POSTGRES_MIGRATIONS_H_
#define RIB_SERVER_STORAGE_POSTGRES_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/storage/postgres/connection_options.h"

namespace rib::storage::pg {

struct Migration {
  int version = 0;   // NNNN of the file name
  std::string name;  // the file name
  std::string sql;
};

// The migrations/ folder as it was at build time, compiled into the binary.
std::vector<Migration> EmbeddedMigrations();
// Every NNNN_*.sql in `dir`, sorted by version. INVALID_ARGUMENT for a duplicate
// version or a .sql file without a number; NOT_FOUND when dir does not exist.
absl::StatusOr<std::vector<Migration>> LoadMigrations(const std::string& dir);

// Applies the pending migrations; returns how many were applied (0 when the schema is
// current). UNAVAILABLE when the database cannot be reached within
// connection.connect_timeout. The migration connection never has a statement_timeout
// (connection.statement_timeout is ignored): a migration may rewrite a large table, and
// waiting for another coordinator's migration is waiting on the advisory lock.
absl::StatusOr<int> ApplyMigrations(const std::string& database_uri,
                                    const std::vector<Migration>& migrations,
                                    ConnectionOptions connection = ConnectionOptions());

}  // namespace rib::storage::pg

#endif  // RIB_SERVER_STORAGE_POSTGRES_MIGRATIONS_H_
