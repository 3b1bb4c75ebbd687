#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rib {
namespace {

// The host name reduced to characters that are safe in a file name.
std::string HostTag() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "host";
  std::string tag;
  for (const char* c = name; *c != '\0' && tag.size() < 32; ++c) {
    const bool safe = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '-';
    tag.push_back(safe ? *c : '-');
  }
  return tag;
}

uint64_t RandomBits() {
  // Seeded per thread from the OS, so forked children and threads draw apart.
  thread_local std::mt19937_64 gen([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  // Mixed with the pid: a child forked after this thread drew keeps the parent's state.
  return gen() ^ (static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ULL);
}

std::string ParentDir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string UniqueTempPath(absl::string_view path) {
  return absl::StrCat(path, ".tmp.", HostTag(), ".", ::getpid(), ".",
                      absl::StrFormat("%016x", RandomBits()));
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open folder ", dir, " to flush it: ", std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems (and /proc-like mounts) refuse fsync on folders: nothing to flush.
  if (rc != 0 && err != EINVAL && err != EROFS) {
    return absl::InternalError(
        absl::StrCat("flushing folder ", dir, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status PublishTempFile(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("renaming ", tmp, " to ", path, ": ", std::strerror(errno)));
  }
  return SyncDirectory(ParentDir(path));
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view data,
                                 mode_t mode) {
  const std::string tmp = UniqueTempPath(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("writing ", tmp, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("flushing ", tmp, ": ", std::strerror(err)));
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("closing ", tmp, ": ", std::strerror(err)));
  }
  absl::Status published = PublishTempFile(tmp, path);
  if (!published.ok()) ::unlink(tmp.c_str());  // no-op once renamed
  return published;
}

}  // namespace rib
