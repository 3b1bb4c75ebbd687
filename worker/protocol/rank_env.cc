#include "worker/protocol/rank_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

extern char** environ;

namespace rib::protocol {

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

absl::Status TouchHeartbeat(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create heartbeat file ", path, ": ", std::strerror(errno)));
  }
  const int rc = futimens(fd, nullptr);
  const int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("cannot touch heartbeat file ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace rib::protocol
