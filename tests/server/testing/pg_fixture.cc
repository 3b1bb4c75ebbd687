#include "tests/server/testing/pg_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>
#include <vector>

#include "server/storage/postgres/migrations.h"
#include "tests/testing/test_env.h"

namespace rib::testing {
namespace {

std::string g_uri;
std::vector<std::string> g_databases;

std::string ReplaceDatabase(const std::string& uri, const std::string& db) {
  // postgresql://user@host:port/dbname[?params]
  const size_t q = uri.find('?');
  const std::string base = uri.substr(0, q);
  const std::string params = q == std::string::npos ? "" : uri.substr(q);
  const size_t slash = base.rfind('/');
  return base.substr(0, slash + 1) + db + params;
}

std::string AdminUri() {
  if (const char* a = std::getenv("RIB_TEST_PG_ADMIN_URL")) return a;
  return ReplaceDatabase(TestDatabaseUrl(), "postgres");
}

void Exec(const std::string& uri, const std::string& sql) {
  pqxx::connection c(uri);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

}  // namespace

std::string CreateExtraDatabase(const std::string& suffix) {
  const std::string name = "rib_t_" + suffix + "_" + std::to_string(getpid());
  Exec(AdminUri(), "DROP DATABASE IF EXISTS " + name);
  Exec(AdminUri(), "CREATE DATABASE " + name);
  g_databases.push_back(name);
  return ReplaceDatabase(AdminUri(), name);
}

void PgEnvironment::SetUp() {
  if (TestDatabaseUrl().empty()) {
    std::cerr << "RIB_TEST_DATABASE_URL is not set: skipping PostgreSQL tests\n";
    std::exit(kSkipExitCode);
  }
  g_uri = CreateExtraDatabase(name_);
  if (migrate_) {
    auto applied = storage::pg::ApplyMigrations(g_uri, storage::pg::EmbeddedMigrations());
    if (!applied.ok()) {
      std::cerr << "migrations failed: " << applied.status() << "\n";
      std::exit(1);
    }
  }
}

void PgEnvironment::TearDown() {
  for (const std::string& name : g_databases) {
    try {
      Exec(AdminUri(), "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::cerr << "dropping " << name << ": " << e.what() << "\n";
    }
  }
}

const std::string& PgTestUri() { return g_uri; }

void TruncateAllTables() {
  Exec(g_uri, "TRUNCATE events, results, job_deps, jobs, sweeps, workers, tokens, quotas, lease_expiry CASCADE");
}

std::string QueryOne(const std::string& uri, const std::string& sql) {
  pqxx::connection c(uri);
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

}  // namespace rib::testing
