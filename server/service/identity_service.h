// Identity in plain C++: who a bearer token is (Authenticate), tokens (create, list,
// revoke) and per-user device quotas. rpc/ adapts it to gRPC, and `rib-coordinator
// token create` (the bootstrap of the first admin) uses it directly on the database.
// Thread-safe (one mutex guards the token cache; the rest is in the Repository).
//
// The token cache: with a ChangeNotifier, Authenticate remembers the principal of each
// token it found valid, so a worker's calls cost no token query each. Revocation stays
// immediate: an entry is used only while no revocation happened since it was read —
// RevokeToken through this service drops the cache before it returns, and a revocation
// by another coordinator sharing the database arrives as a NOTIFY on
// ChangeNotifier::Topic::kTokens (PgChangeNotifier bumps that counter, also after a lost
// LISTEN connection). Entries are also re-read after kTokenCacheTtl.
#ifndef RIB_SERVER_SERVICE_IDENTITY_SERVICE_H_
#define RIB_SERVER_SERVICE_IDENTITY_SERVICE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/domain/types.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/change_notifier.h"
#include "server/storage/repository.h"

namespace rib::service {

struct CreatedToken {
  std::string token;  // shown once: only its hash is stored
  domain::TokenInfo info;
};

// The most devices a quota may name.
inline constexpr int kMaxQuotaDevices = 1000000;
// How long a cached token is trusted without a revocation notice: bounds what a missed
// NOTIFY (a LISTEN connection that dies silently) could cost.
inline constexpr absl::Duration kTokenCacheTtl = absl::Seconds(30);
// Tokens cached at most (the cache is emptied when full: tokens are few in practice).
inline constexpr size_t kMaxCachedTokens = 10000;

class IdentityService {
 public:
  // `repo` and `changes` are not owned and must outlive the service. `changes` nullptr
  // (the default): no cache, every Authenticate reads the token's row.
  explicit IdentityService(storage::Repository* repo,
                           storage::ChangeNotifier* changes = nullptr);

  // The principal of a bearer token (as auth::ParseBearer returns it). UNAUTHENTICATED
  // for a token that is unknown or revoked (one message for both: a caller learns
  // nothing about which). A token revoked before the call began is always refused.
  absl::StatusOr<domain::Principal> Authenticate(const std::string& token);
  // INVALID_ARGUMENT for a user name that auth::ValidateUserName refuses.
  absl::StatusOr<CreatedToken> CreateToken(const std::string& user, domain::Role role,
                                           const std::string& created_by);
  absl::StatusOr<std::vector<domain::TokenInfo>> ListTokens(bool include_revoked);
  // Drops every cached token before it returns (the next call with the token is
  // refused).
  absl::StatusOr<domain::TokenInfo> RevokeToken(const std::string& token_id,
                                                const std::string& revoked_by);
  // devices: nullopt = unlimited. INVALID_ARGUMENT for a bad user name or a count
  // outside 0..kMaxQuotaDevices.
  absl::StatusOr<domain::Quota> SetQuota(const std::string& user,
                                         std::optional<int> devices);
  absl::StatusOr<std::vector<domain::Quota>> ListQuotas();

 private:
  struct Cached {
    domain::Principal who;
    uint64_t generation = 0;  // Generation() when the row was read
    absl::Time read_at;
  };
  // Grows with every revocation seen (by this service or announced by the notifier).
  uint64_t GenerationLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::Repository* const repo_;
  storage::ChangeNotifier* const changes_;
  mutable absl::Mutex mu_;
  uint64_t local_revocations_ ABSL_GUARDED_BY(mu_) = 0;
  // By token hash.
  absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_IDENTITY_SERVICE_H_
