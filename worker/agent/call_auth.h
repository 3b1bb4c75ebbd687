// The worker's identity towards the coordinator: its bearer token, read once at start
// and attached to every call (Register, Heartbeat, AcquireJob, ReportResults).
// Thread-safe: the functions are pure (ReadTokenFile only reads the file).
#ifndef RIB_WORKER_AGENT_CALL_AUTH_H_
#define RIB_WORKER_AGENT_CALL_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace rib::agent {

// Adds "authorization: Bearer TOKEN" to the call; nothing when `token` is empty (the
// coordinator then answers UNAUTHENTICATED, which the agent reports as such).
void AuthorizeCall(grpc::ClientContext* ctx, const std::string& token);

// The token on the first line of the file at `path`, surrounding white space trimmed.
// Errors name the path and never include the file's content: NOT_FOUND or
// PERMISSION_DENIED when it cannot be read, INVALID_ARGUMENT when its first line is
// empty.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// What to tell the operator when the coordinator refused the worker's calls: for
// UNAUTHENTICATED and PERMISSION_DENIED a sentence saying the worker's token is missing,
// unknown or of the wrong role and how to give one; "" for any other status.
std::string DescribeRefusal(const absl::Status& status, bool have_token);

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_CALL_AUTH_H_
