// SHA-256 digests (OpenSSL's EVP), as lowercase hex.
#ifndef RIB_COMMON_HASH_H_
#define RIB_COMMON_HASH_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace rib {

std::string Sha256Hex(absl::string_view data);
// Streams the file; NOT_FOUND / PERMISSION_DENIED naming the path on failure,
// INVALID_ARGUMENT for what is not a regular file (a FIFO is refused, not read).
absl::StatusOr<std::string> Sha256File(const std::string& path);
// Streams an open file from its start (positional reads: the descriptor's offset is
// left alone). DATA_LOSS naming `name` on a read error.
absl::StatusOr<std::string> Sha256Fd(int fd, absl::string_view name);

}  // namespace rib

#endif  // RIB_COMMON_HASH_H_
