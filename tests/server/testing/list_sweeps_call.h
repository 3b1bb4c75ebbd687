// One ListSweeps call to a coordinator through a channel made as the CLI and the worker
// make theirs (proto/tls): what the TLS tests use to ask "does this client get in?".
#ifndef RIB_TESTS_SERVER_TESTING_LIST_SWEEPS_CALL_H_
#define RIB_TESTS_SERVER_TESTING_LIST_SWEEPS_CALL_H_

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/tls/credentials.h"
#include "rib/v1/coordinator.grpc.pb.h"

namespace rib::testing {

// INTERNAL "no channel" when the client's TLS files are unusable; otherwise the call's
// status (10 s deadline). `token`: the bearer token sent ("" = none).
inline grpc::Status ListSweepsCall(const std::string& address,
                                   const tls::ClientTlsOptions& options,
                                   const std::string& token) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      tls::MakeChannel(address, options);
  if (!channel.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "no channel: " + std::string(channel.status().message()));
  }
  auto stub = v1::Coordinator::NewStub(*channel);
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::ListSweepsResponse response;
  return stub->ListSweeps(&ctx, v1::ListSweepsRequest(), &response);
}

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_LIST_SWEEPS_CALL_H_
