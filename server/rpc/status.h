// The one mapping of absl::Status to grpc::Status (CONVENTIONS: Errors). The codes
// have the same numbers and meaning in both; the message is kept as is.
#ifndef RIB_SERVER_RPC_STATUS_H_
#define RIB_SERVER_RPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace rib::rpc {

grpc::StatusCode ToGrpcCode(absl::StatusCode code);
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace rib::rpc

#endif  // RIB_SERVER_RPC_STATUS_H_
