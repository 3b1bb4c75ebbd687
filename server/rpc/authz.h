// Who makes a gRPC call and whether they may: every handler of CoordinatorService and
// WorkerApiService starts with Authz::Check, which reads the call's
// "authorization: Bearer TOKEN", authenticates the token (service::IdentityService)
// and applies the one table of access rules (auth/policy.h).
#ifndef RIB_SERVER_RPC_AUTHZ_H_
#define RIB_SERVER_RPC_AUTHZ_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "server/domain/types.h"
#include "server/rpc/status.h"
#include "server/service/identity_service.h"

namespace rib::rpc {

class Authz {
 public:
  // Not owned; must outlive this object.
  explicit Authz(service::IdentityService* identity) : identity_(identity) {}

  // The caller of `rpc` (full proto method name, "rib.v1.Coordinator.CancelSweep").
  // UNAUTHENTICATED when the call has no token, a malformed, unknown or revoked one;
  // PERMISSION_DENIED naming the role needed (auth::Authorize) otherwise. Rules that
  // depend on the sweep's owner are checked again, with auth::Authorize and the owner,
  // once the sweep is loaded.
  absl::StatusOr<domain::Principal> Check(const grpc::ServerContextBase* ctx,
                                          absl::string_view rpc) const;

 private:
  service::IdentityService* const identity_;
};

}  // namespace rib::rpc

// The first line of every handler of CoordinatorService and WorkerApiService: declares
// `who`, the caller of `rpc_name`, or returns the refusal (UNAUTHENTICATED,
// PERMISSION_DENIED) as the call's status. Needs `ctx` (the ServerContext) and
// `authz_` (an Authz*) in scope.
#define RIB_RPC_CALLER(who, rpc_name)                                            \
  absl::StatusOr<::rib::domain::Principal> who##_or = authz_->Check(ctx, rpc_name); \
  if (!who##_or.ok()) return ::rib::rpc::ToGrpcStatus(who##_or.status());     \
  const ::rib::domain::Principal& who = *who##_or

#endif  // RIB_SERVER_RPC_AUTHZ_H_
