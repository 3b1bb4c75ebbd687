#include "server/service/identity_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/auth/credentials.h"

namespace rib::service {

IdentityService::IdentityService(storage::Repository* repo,
                                 storage::ChangeNotifier* changes)
    : repo_(repo), changes_(changes) {}

uint64_t IdentityService::GenerationLocked() const {
  // Both terms only grow, so the sum changes exactly when either does.
  return local_revocations_ +
         changes_->Counter(storage::ChangeNotifier::Topic::kTokens);
}

absl::StatusOr<domain::Principal> IdentityService::Authenticate(const std::string& token) {
  const std::string hash = auth::TokenHash(token);
  uint64_t generation = 0;
  if (changes_ != nullptr) {
    absl::MutexLock l(&mu_);
    generation = GenerationLocked();
    auto it = cache_.find(hash);
    if (it != cache_.end() && it->second.generation == generation &&
        absl::Now() - it->second.read_at < kTokenCacheTtl) {
      return it->second.who;
    }
  }
  const absl::Time read_at = absl::Now();
  RIB_ASSIGN_OR_RETURN(std::optional<domain::Principal> who, repo_->FindToken(hash));
  if (!who) {
    return absl::UnauthenticatedError("the token is unknown or has been revoked");
  }
  if (changes_ != nullptr) {
    absl::MutexLock l(&mu_);
    // A revocation since the row was read may have been of this token: not cached.
    if (GenerationLocked() == generation) {
      if (cache_.size() >= kMaxCachedTokens) cache_.clear();
      cache_[hash] = Cached{*who, generation, read_at};
    }
  }
  return *std::move(who);
}

absl::StatusOr<CreatedToken> IdentityService::CreateToken(const std::string& user,
                                                          domain::Role role,
                                                          const std::string& created_by) {
  RIB_RETURN_IF_ERROR(auth::ValidateUserName(user));
  CreatedToken out;
  out.token = auth::NewToken();
  RIB_ASSIGN_OR_RETURN(out.info, repo_->CreateToken(auth::TokenHash(out.token), user,
                                                    role, created_by));
  RIB_LOG(INFO) << "token " << out.info.id << " created for " << user << " (role "
                << domain::RoleName(role) << ") by " << created_by;
  return out;
}

absl::StatusOr<std::vector<domain::TokenInfo>> IdentityService::ListTokens(
    bool include_revoked) {
  return repo_->ListTokens(include_revoked);
}

absl::StatusOr<domain::TokenInfo> IdentityService::RevokeToken(
    const std::string& token_id, const std::string& revoked_by) {
  absl::StatusOr<domain::TokenInfo> info = repo_->RevokeToken(token_id, revoked_by);
  {
    // Also after an error: the revocation may have committed before the error came.
    absl::MutexLock l(&mu_);
    ++local_revocations_;
    cache_.clear();
  }
  if (!info.ok()) return info.status();
  RIB_LOG(INFO) << "token " << token_id << " of " << info->user << " revoked by "
                << revoked_by;
  return info;
}

absl::StatusOr<domain::Quota> IdentityService::SetQuota(const std::string& user,
                                                        std::optional<int> devices) {
  RIB_RETURN_IF_ERROR(auth::ValidateUserName(user));
  if (devices && (*devices < 0 || *devices > kMaxQuotaDevices)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a quota of ", *devices, " devices is outside 0..", kMaxQuotaDevices));
  }
  return repo_->SetQuota(user, devices);
}

absl::StatusOr<std::vector<domain::Quota>> IdentityService::ListQuotas() {
  return repo_->ListQuotas();
}

}  // namespace rib::service
