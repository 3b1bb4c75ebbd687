// Where rib-coordinator takes its database URI from (ResolveDatabaseUri,
// server/coordinator.h): --database, else --database-file, else $RIB_DATABASE_URL.
#include <unistd.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(DatabaseUriTest, FlagWinsOverTheEnvironment) {
  EXPECT_EQ(*ResolveDatabaseUri("postgresql://a@h/db", "", "postgresql://env@h/db"),
            "postgresql://a@h/db");
}

TEST(DatabaseUriTest, FileFirstLineTrimmedWinsOverTheEnvironment) {
  const std::string path =
      WriteFile("db_uri", "  postgresql://rib:s3cret@db:5432/rib \n# ignored\n");
  EXPECT_EQ(*ResolveDatabaseUri("", path, "postgresql://env@h/db"),
            "postgresql://rib:s3cret@db:5432/rib");
}

TEST(DatabaseUriTest, EnvironmentWhenNothingElse) {
  EXPECT_EQ(*ResolveDatabaseUri("", "", "postgresql://env@h/db"),
            "postgresql://env@h/db");
}

TEST(DatabaseUriTest, NoneGivenNamesAllThreeWays) {
  const absl::StatusOr<std::string> uri = ResolveDatabaseUri("", "", "");
  EXPECT_THAT(uri.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("--database is required")));
  EXPECT_THAT(uri.status().message(), HasSubstr("--database-file"));
  EXPECT_THAT(uri.status().message(), HasSubstr("RIB_DATABASE_URL"));
}

TEST(DatabaseUriTest, BadFilesAndBothFlagsAreRefused) {
  EXPECT_THAT(ResolveDatabaseUri("postgresql://a@h/db", "/etc/hostname", "").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("both given")));
  EXPECT_THAT(
      ResolveDatabaseUri("", "/nonexistent/rib/db_uri", "").status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("--database-file=/nonexistent/rib/db_uri: cannot read")));
  const std::string empty = WriteFile("db_uri_empty", "\n");
  EXPECT_THAT(
      ResolveDatabaseUri("", empty, "").status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("first line is empty")));
}

}  // namespace
}  // namespace rib
