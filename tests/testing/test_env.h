// Helpers for tests: scratch directories, the source tree, and skipping.
#ifndef RIB_TESTS_TESTING_TEST_ENV_H_
#define RIB_TESTS_TESTING_TEST_ENV_H_

#include <string>

namespace rib::testing {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// The repository root ($RIB_SOURCE_DIR, set by ctest).
std::string SourceDir();
// The shared reference data folder (../shared/data next to the checkout, or
// $RIB_SHARED_DATA).
std::string SharedDataDir();
// The data root where the FMNIST-RIB build is cached across test runs:
// $RIB_BINARY_DIR/test-data (created), so each test binary does not rebuild the suite.
std::string CachedDataRoot();
// The libpq URI of the throwaway PostgreSQL cluster that scripts/test.sh starts
// ($RIB_TEST_DATABASE_URL), or "" when there is none.
std::string TestDatabaseUrl();

// Exit code that ctest treats as "skipped" (SKIP_RETURN_CODE).
inline constexpr int kSkipExitCode = 77;

}  // namespace rib::testing

#endif  // RIB_TESTS_TESTING_TEST_ENV_H_
