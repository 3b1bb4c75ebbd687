// gRPC keepalives (proto/tls/credentials.h): the client arguments MakeChannel adds, and
// a real server and channel over loopback showing that the server's permit arguments
// let the client's pings through instead of answering GOAWAY "too_many_pings".
#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proto/tls/credentials.h"
#include "rib/v1/worker.grpc.pb.h"

namespace rib::tls {
namespace {

std::map<std::string, int> IntArgs(const grpc::ChannelArguments& args) {
  grpc_channel_args c_args;
  args.SetChannelArgs(&c_args);
  std::map<std::string, int> out;
  for (size_t i = 0; i < c_args.num_args; ++i) {
    if (c_args.args[i].type == GRPC_ARG_INTEGER) {
      out[c_args.args[i].key] = c_args.args[i].value.integer;
    }
  }
  return out;
}

TEST(KeepaliveTest, ClientArgumentsPingIdleChannels) {
  grpc::ChannelArguments args;
  AddClientKeepalive(&args);
  const std::map<std::string, int> set = IntArgs(args);
  EXPECT_EQ(set.at(GRPC_ARG_KEEPALIVE_TIME_MS), 20000);
  EXPECT_EQ(set.at(GRPC_ARG_KEEPALIVE_TIMEOUT_MS), 10000);
  EXPECT_EQ(set.at(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS), 1);
  EXPECT_EQ(set.at(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA), 0);
}

TEST(KeepaliveTest, ClientArgumentsFollowTheOptions) {
  grpc::ChannelArguments args;
  Keepalive keepalive;
  keepalive.time = absl::Seconds(3);
  keepalive.timeout = absl::Milliseconds(1500);
  AddClientKeepalive(&args, keepalive);
  EXPECT_EQ(IntArgs(args).at(GRPC_ARG_KEEPALIVE_TIME_MS), 3000);
  EXPECT_EQ(IntArgs(args).at(GRPC_ARG_KEEPALIVE_TIMEOUT_MS), 1500);
}

// A server with AddServerKeepalive and a client asking for a ping every 100 ms (gRPC
// sends at most one a second): after 5 s of pings without any call the connection is
// still up. A server without the permit arguments answers the third with GOAWAY
// "too_many_pings", and the channel leaves READY.
std::unique_ptr<grpc::Server> StartServer(bool permit, const Keepalive& keepalive,
                                          v1::WorkerApi::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.RegisterService(service);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  if (permit) AddServerKeepalive(&builder, keepalive);
  return builder.BuildAndStart();
}

bool StaysReady(bool permit) {
  Keepalive keepalive;
  keepalive.time = absl::Milliseconds(100);
  keepalive.timeout = absl::Seconds(5);
  int port = 0;
  v1::WorkerApi::Service service;  // every method UNIMPLEMENTED: none is called
  std::unique_ptr<grpc::Server> server = StartServer(permit, keepalive, &service, &port);
  if (server == nullptr || port == 0) {
    ADD_FAILURE() << "the server did not start";
    return permit ? false : true;
  }
  grpc::ChannelArguments args;
  AddClientKeepalive(&args, keepalive);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                           grpc::InsecureChannelCredentials(), args);
  EXPECT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(10)));
  // No calls: only keepalive pings cross the connection for 5 s.
  bool ready = true;
  for (int i = 0; i < 50 && ready; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    ready = channel->GetState(false) == GRPC_CHANNEL_READY;
  }
  server->Shutdown(std::chrono::system_clock::now());
  return ready;
}

TEST(KeepaliveTest, TheServerPermitsTheClientsPings) { EXPECT_TRUE(StaysReady(true)); }

TEST(KeepaliveTest, WithoutThePermitTheServerRefusesThem) {
  // The control: shows the test above would notice a server that refuses the pings.
  EXPECT_FALSE(StaysReady(false));
}

}  // namespace
}  // namespace rib::tls
