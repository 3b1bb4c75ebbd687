// A gRPC server interceptor that times every call into
// CoordinatorMetrics::ObserveRpc (rib_rpc_duration_seconds): from the call's start to
// the status it sends. Registered on the coordinator's ServerBuilder.
#ifndef RIB_SERVER_RPC_RPC_TIMING_H_
#define RIB_SERVER_RPC_RPC_TIMING_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "server/service/coordinator_metrics.h"

namespace rib::rpc {

// One interceptor per call; `metrics` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcTimingFactory(
    service::CoordinatorMetrics* metrics);

}  // namespace rib::rpc

#endif  // RIB_SERVER_RPC_RPC_TIMING_H_
