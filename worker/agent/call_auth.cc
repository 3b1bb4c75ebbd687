#include "worker/agent/call_auth.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rib::agent {

void AuthorizeCall(grpc::ClientContext* ctx, const std::string& token) {
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    const std::string why =
        absl::StrCat("cannot read the token file ", path, ": ", std::strerror(err));
    if (err == EACCES) return absl::PermissionDeniedError(why);
    return absl::NotFoundError(why);
  }
  std::string line;
  std::getline(in, line);
  if (in.bad()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the token file ", path, ": ", std::strerror(errno)));
  }
  std::string token(absl::StripAsciiWhitespace(line));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the token file ", path, " has no token on its first line"));
  }
  return token;
}

std::string DescribeRefusal(const absl::Status& status, bool have_token) {
  if (absl::IsUnauthenticated(status)) {
    return absl::StrCat("the coordinator refused the worker's token (UNAUTHENTICATED",
                        have_token ? "" : ": none was given",
                        "): give --token-file or RIB_TOKEN with a token of role worker");
  }
  if (absl::IsPermissionDenied(status)) {
    return "the coordinator refused the worker's call (PERMISSION_DENIED): the token "
           "must have role worker, and the worker's name must belong to the token's "
           "user";
  }
  return "";
}

}  // namespace rib::agent
