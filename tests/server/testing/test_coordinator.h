// A real coordinator for integration tests: server/coordinator.h as rib-coordinator
// builds it, over the test PostgreSQL (pg_fixture.h), serving gRPC on a free port; and
// a worker registered through its worker API. Header-only: the tests that use it link
// rib_coordinator. Not thread-safe (one test thread).
#ifndef RIB_TESTS_SERVER_TESTING_TEST_COORDINATOR_H_
#define RIB_TESTS_SERVER_TESTING_TEST_COORDINATOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/tokens.h"
#include "tests/server/testing/worker_calls.h"

namespace rib::testing {

class TestCoordinator {
 public:
  explicit TestCoordinator(const std::string& artifact_root) {
    CoordinatorOptions options;
    options.database_uri = PgTestUri();
    options.artifact_root = artifact_root;
    options.poll = absl::Milliseconds(200);
    auto coordinator = Coordinator::Create(options);
    EXPECT_TRUE(coordinator.ok()) << coordinator.status();
    coordinator_ = std::move(*coordinator);
    absl::Status started = coordinator_->Start();
    EXPECT_TRUE(started.ok()) << started;
    EXPECT_GT(coordinator_->port(), 0);
    address_ = absl::StrCat("127.0.0.1:", coordinator_->port());
    auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    client = v1::Coordinator::NewStub(channel);
    worker = v1::WorkerApi::NewStub(channel);
  }
  ~TestCoordinator() { coordinator_->Shutdown(absl::ZeroDuration()); }

  // "127.0.0.1:PORT".
  const std::string& address() const { return address_; }

  std::unique_ptr<v1::Coordinator::Stub> client;
  std::unique_ptr<v1::WorkerApi::Stub> worker;

 private:
  std::unique_ptr<Coordinator> coordinator_;
  std::string address_;
};

// Registers worker "node1" (2 cpu devices; fmnist-val, fmnist-v2 and fmnist-c) with the
// worker token `token`; fails the test when the call fails.
inline v1::RegisterResponse RegisterTestWorker(v1::WorkerApi::Stub* worker,
                                               const std::string& token) {
  AuthContext ctx(token);
  v1::RegisterResponse resp;
  grpc::Status s = worker->Register(&ctx, WorkerRegistration("node1", 2), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_TEST_COORDINATOR_H_
