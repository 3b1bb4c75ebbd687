// A started coordinator (server/coordinator.h) on this binary's test database with every
// table emptied, and the sweeps' weights files (sweep_fixtures.h) under the artifact
// root: the start of the coordinator tests that call it over gRPC or HTTP.
#ifndef RIB_TESTS_SERVER_TESTING_FRESH_COORDINATOR_H_
#define RIB_TESTS_SERVER_TESTING_FRESH_COORDINATOR_H_

#include <filesystem>
#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "server/coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/sweep_fixtures.h"

namespace rib::testing {

// `options` gives everything but database_uri and artifact_root, which are set here.
// Fails the test and returns nullptr when the coordinator cannot be created or started.
inline std::unique_ptr<Coordinator> StartFreshCoordinator(
    const std::filesystem::path& artifact_root, CoordinatorOptions options) {
  TruncateAllTables();
  WriteSweepModelFiles(artifact_root);
  options.database_uri = PgTestUri();
  options.artifact_root = artifact_root.string();
  auto created = Coordinator::Create(std::move(options));
  if (!created.ok()) {
    ADD_FAILURE() << created.status();
    return nullptr;
  }
  if (absl::Status s = (*created)->Start(); !s.ok()) {
    ADD_FAILURE() << s;
    return nullptr;
  }
  return *std::move(created);
}

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_FRESH_COORDINATOR_H_
