// A started coordinator (server/coordinator.h) on this binary's test database with every
// table emptied, and the sweeps' weights files (sweep_fixtures.h) under the artifact
// root: the start of the coordinator tests that call it over gRPC or HTTP.
#ifndef RIB_TESTS_SERVER_TESTING_FRESH_COORDINATOR_H_
#define RIB_TESTS_SERVER_TESTING_FRESH_COORDINATOR_H_

#include <filesystem>
#include <memory>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"
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

// Stubs of both APIs over one insecure channel to a coordinator on 127.0.0.1.
struct CoordinatorStubs {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Coordinator::Stub> client;
  std::unique_ptr<v1::WorkerApi::Stub> worker_api;
};
inline CoordinatorStubs ConnectTo(const Coordinator& coordinator) {
  CoordinatorStubs out;
  out.channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", coordinator.port()),
                                    grpc::InsecureChannelCredentials());
  out.client = v1::Coordinator::NewStub(out.channel);
  out.worker_api = v1::WorkerApi::NewStub(out.channel);
  return out;
}

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_FRESH_COORDINATOR_H_
