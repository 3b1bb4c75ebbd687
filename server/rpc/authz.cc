#include "server/rpc/authz.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/auth/credentials.h"
#include "server/auth/policy.h"

namespace rib::rpc {

absl::StatusOr<domain::Principal> Authz::Check(const grpc::ServerContextBase* ctx,
                                               absl::string_view rpc) const {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    const bool worker_api = absl::StartsWith(rpc, "rib.v1.WorkerApi.");
    return absl::UnauthenticatedError(
        absl::StrCat("no token: ", rpc.substr(rpc.rfind('.') + 1),
                     " needs \"authorization: Bearer TOKEN\" (",
                     worker_api ? "rib-worker --token-file" : "rib login", ", or RIB_TOKEN)"));
  }
  RIB_ASSIGN_OR_RETURN(std::string token,
                       auth::ParseBearer(absl::string_view(it->second.data(),
                                                           it->second.size())));
  RIB_ASSIGN_OR_RETURN(domain::Principal who, identity_->Authenticate(token));
  RIB_RETURN_IF_ERROR(auth::Authorize(who, rpc));
  return who;
}

}  // namespace rib::rpc
