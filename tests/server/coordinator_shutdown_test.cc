// rib-test-labels: postgres
// Coordinator::Shutdown while the database is unreachable (issue 14, item 3): the
// database goes silent behind a TCP proxy with a call in flight and the background
// loops running, and Shutdown still returns in seconds; the call gets an answer.
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/tcp_proxy.h"
#include "tests/server/testing/tokens.h"

namespace rib {
namespace {

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("shutdown"));

TEST(CoordinatorShutdownTest, CompletesInSecondsWhileTheDatabaseIsSilent) {
  const std::string uri = ::rib::testing::PgTestUri();
  const std::string token = ::rib::testing::MakeToken(uri, "alice");
  ::rib::testing::TcpProxy proxy(::rib::testing::PortOf(uri));
  CoordinatorOptions options;
  options.database_uri = ::rib::testing::WithPort(uri, proxy.port());
  options.lease_expiry_interval = absl::Milliseconds(100);
  auto created = Coordinator::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Coordinator> coordinator = *std::move(created);
  ASSERT_TRUE(coordinator->Start().ok());
  auto client = v1::Coordinator::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", coordinator->port()),
                          grpc::InsecureChannelCredentials()));
  {
    ::rib::testing::AuthContext ctx(token);
    v1::ListSweepsResponse resp;
    ASSERT_TRUE(client->ListSweeps(&ctx, v1::ListSweepsRequest(), &resp).ok());
  }

  proxy.Silence();
  grpc::Status in_flight;
  absl::Notification answered;
  std::thread caller([&] {
    ::rib::testing::AuthContext ctx(token);
    v1::ListSweepsResponse resp;
    in_flight = client->ListSweeps(&ctx, v1::ListSweepsRequest(), &resp);
    answered.Notify();
  });
  EXPECT_FALSE(answered.WaitForNotificationWithTimeout(absl::Milliseconds(500)))
      << "the call should be waiting on the silent database";

  const absl::Time start = absl::Now();
  absl::Notification stopped;
  std::thread stopper([&] {
    coordinator->Shutdown(absl::Seconds(1));
    stopped.Notify();
  });
  // Grace 1 s, then the loops and the call are released; a generous bound.
  const bool in_time = stopped.WaitForNotificationWithTimeout(absl::Seconds(15));
  EXPECT_TRUE(in_time) << "Shutdown still waiting after 15 s";
  if (!in_time) {
    stopper.detach();  // a failed test, not a hung one
    caller.detach();
    std::quick_exit(1);
  }
  stopper.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(5)));
  caller.join();
  EXPECT_TRUE(in_flight.error_code() == grpc::StatusCode::UNAVAILABLE ||
              in_flight.error_code() == grpc::StatusCode::CANCELLED)
      << in_flight.error_code() << " " << in_flight.error_message();
  coordinator.reset();  // the LISTEN connection's thread stops too
}

}  // namespace
}  // namespace rib
