// Identity in plain C++: who a bearer token is (Authenticate), tokens (create, list,
// revoke) and per-user device quotas. rpc/ adapts it to gRPC, and `rib-coordinator
// token create` (the bootstrap of the first admin) uses it directly on the database.
// Thread-safe (all state is in the Repository).
#ifndef RIB_SERVER_SERVICE_IDENTITY_SERVICE_H_
#define RIB_SERVER_SERVICE_IDENTITY_SERVICE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/domain/types.h"
#include "server/storage/repository.h"

namespace rib::service {

struct CreatedToken {
  std::string token;  // shown once: only its hash is stored
  domain::TokenInfo info;
};

// The most devices a quota may name.
inline constexpr int kMaxQuotaDevices = 1000000;

class IdentityService {
 public:
  // `repo` is not owned and must outlive the service.
  explicit IdentityService(storage::Repository* repo);

  // The principal of a bearer token (as auth::ParseBearer returns it). UNAUTHENTICATED
  // for a token that is unknown or revoked (one message for both: a caller learns
  // nothing about which).
  absl::StatusOr<domain::Principal> Authenticate(const std::string& token);
  // INVALID_ARGUMENT for a user name that auth::ValidateUserName refuses.
  absl::StatusOr<CreatedToken> CreateToken(const std::string& user, domain::Role role,
                                           const std::string& created_by);
  absl::StatusOr<std::vector<domain::TokenInfo>> ListTokens(bool include_revoked);
  absl::StatusOr<domain::TokenInfo> RevokeToken(const std::string& token_id,
                                                const std::string& revoked_by);
  // devices: nullopt = unlimited. INVALID_ARGUMENT for a bad user name or a count
  // outside 0..kMaxQuotaDevices.
  absl::StatusOr<domain::Quota> SetQuota(const std::string& user,
                                         std::optional<int> devices);
  absl::StatusOr<std::vector<domain::Quota>> ListQuotas();

 private:
  storage::Repository* const repo_;
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_IDENTITY_SERVICE_H_
