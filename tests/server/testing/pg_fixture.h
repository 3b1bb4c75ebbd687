// PostgreSQL for tests: each test binary gets its own fresh, migrated database created
// from RIB_TEST_PG_ADMIN_URL (or RIB_TEST_DATABASE_URL with the database name replaced
// by "postgres"), and exits 77 (skipped) when RIB_TEST_DATABASE_URL is unset.
#ifndef RIB_TESTS_SERVER_TESTING_PG_FIXTURE_H_
#define RIB_TESTS_SERVER_TESTING_PG_FIXTURE_H_

#include <string>

#include "gtest/gtest.h"

namespace rib::testing {

// Register once per binary: static auto* env = ::testing::AddGlobalTestEnvironment(
//     new PgEnvironment("name"));
class PgEnvironment : public ::testing::Environment {
 public:
  explicit PgEnvironment(std::string name, bool migrate = true)
      : name_(std::move(name)), migrate_(migrate) {}
  void SetUp() override;
  void TearDown() override;

 private:
  std::string name_;
  bool migrate_;
};

// The URI of this binary's database (valid after PgEnvironment::SetUp).
const std::string& PgTestUri();
// URI of a new empty database (dropped at exit by PgEnvironment::TearDown).
std::string CreateExtraDatabase(const std::string& suffix);
// Empties every table except schema_migrations.
void TruncateAllTables();
// Runs one SQL statement and returns the first column of the first row ("" if none).
std::string QueryOne(const std::string& uri, const std::string& sql);

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_PG_FIXTURE_H_
