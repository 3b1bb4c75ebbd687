#include "server/auth/credentials.h"

#include <openssl/rand.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/log.h"

namespace rib::auth {
namespace {

constexpr absl::string_view kTokenPrefix = "rib_";
constexpr size_t kRandomBytes = 32;
constexpr size_t kMaxUserName = 64;

std::string RandomHex() {
  unsigned char bytes[kRandomBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    RIB_LOG(ERROR) << "RAND_bytes failed: no randomness for a token";
    std::abort();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string NewToken() { return absl::StrCat(kTokenPrefix, RandomHex()); }

std::string NewLeaseSecret() { return RandomHex(); }

std::string TokenHash(absl::string_view token) { return Sha256Hex(token); }

absl::StatusOr<std::string> ParseBearer(absl::string_view authorization) {
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  constexpr absl::string_view kScheme = "bearer ";
  if (!absl::StartsWithIgnoreCase(value, kScheme)) {
    return absl::UnauthenticatedError(
        "the authorization header is not \"Bearer TOKEN\"");
  }
  absl::string_view token = absl::StripAsciiWhitespace(value.substr(kScheme.size()));
  if (!absl::StartsWith(token, kTokenPrefix) ||
      token.size() != kTokenPrefix.size() + 2 * kRandomBytes ||
      !IsLowerHex(token.substr(kTokenPrefix.size()))) {
    return absl::UnauthenticatedError(
        "the bearer token is not a rib token (rib_ and 64 hex digits)");
  }
  return std::string(token);
}

absl::Status ValidateUserName(absl::string_view user) {
  bool ok = !user.empty() && user.size() <= kMaxUserName;
  for (char c : user) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
          c == '@' || c == '-')) {
      ok = false;
    }
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "user name \"", absl::CHexEscape(user.substr(0, kMaxUserName)),
      user.size() > kMaxUserName ? "...\"" : "\"",
      " is not 1-64 characters of letters, digits and . _ @ -"));
}

}  // namespace rib::auth
