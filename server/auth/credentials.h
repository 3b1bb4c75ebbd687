// Bearer tokens and lease secrets: how they are made, stored and read.
//
// A token is "rib_" + 64 hex digits (256 random bits from OpenSSL's RAND_bytes); the
// coordinator stores only TokenHash(token), so a copy of the database grants nothing.
// A lease secret is the same shape without the prefix, handed to the worker that gets
// the lease and stored as its hash too.
#ifndef RIB_SERVER_AUTH_CREDENTIALS_H_
#define RIB_SERVER_AUTH_CREDENTIALS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rib::auth {

// A fresh token. Aborts when the system has no randomness (RAND_bytes fails).
std::string NewToken();
// A fresh lease secret.
std::string NewLeaseSecret();
// What is stored for a token or a secret: its SHA-256, hex.
std::string TokenHash(absl::string_view token);

// The token of an "authorization" metadata value "Bearer TOKEN" (the scheme is
// case-insensitive). UNAUTHENTICATED naming what is wrong: not a Bearer value, or a
// token that is not "rib_" + 64 hex digits (so junk never reaches the database).
absl::StatusOr<std::string> ParseBearer(absl::string_view authorization);

// A user name a token may carry: 1-64 characters of [A-Za-z0-9._@-]. INVALID_ARGUMENT
// naming the name and the rule otherwise.
absl::Status ValidateUserName(absl::string_view user);

}  // namespace rib::auth

#endif  // RIB_SERVER_AUTH_CREDENTIALS_H_
