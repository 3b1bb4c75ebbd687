// SHA-256 digests (OpenSSL's EVP), as lowercase hex.
#ifndef RIB_COMMON_HASH_H_
#define RIB_COMMON_HASH_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace rib {

std::string Sha256Hex(absl::string_view data);
// Streams the file; NOT_FOUND / PERMISSION_DENIED naming the path on failure.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace rib

#endif  // RIB_COMMON_HASH_H_
