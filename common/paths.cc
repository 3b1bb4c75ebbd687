#include "common/paths.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rib {
namespace fs = std::filesystem;
namespace {

// Closes on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(FdCloser&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// The lexical part: `path` joined under `root`, normalised, and that path relative to
// the root (never starting with "..").
struct Lexical {
  std::string joined;
  std::string relative;
};

absl::StatusOr<Lexical> LexicalUnder(const std::string& root, const std::string& path,
                                     absl::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty path"));
  const fs::path base = fs::path(root).lexically_normal();
  fs::path joined =
      fs::path(path).is_absolute() ? fs::path(path) : base / fs::path(path);
  joined = joined.lexically_normal();
  const fs::path rel = joined.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", path, "' is outside ", base.string()));
  }
  return Lexical{joined.string(), rel.string()};
}

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "of another kind";
}

// "what: 'path' (shown)", without the parenthesis when they are the same.
std::string Name(absl::string_view what, const std::string& path, const std::string& shown) {
  std::string name = absl::StrCat(what, ": '", path, "'");
  if (shown != path) absl::StrAppend(&name, " (", shown, ")");
  return name;
}

absl::Status OpenError(int err, absl::string_view what, const std::string& path,
                       const std::string& shown) {
  const std::string name = Name(what, path, shown);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    case EXDEV:
      return absl::PermissionDeniedError(absl::StrCat(
          name, " resolves outside its root (a symbolic link points out of it)"));
    case ELOOP:
      return absl::PermissionDeniedError(absl::StrCat(
          name, " cannot be resolved inside its root (a symbolic link loop or a /proc "
                "link)"));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(name, ": ", std::strerror(err)));
    default:
      return absl::UnavailableError(
          absl::StrCat(name, " cannot be opened: ", std::strerror(err)));
  }
}

// fstat → a regular file, and blocking reads again.
absl::StatusOr<InputFile> Finish(FdCloser fd, absl::string_view what,
                                 const std::string& path, const std::string& shown) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return OpenError(errno, what, path, shown);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Name(what, path, shown), " is not a regular file (it is ", FileKind(st.st_mode),
        ")"));
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return InputFile(fd.release(), shown, static_cast<uint64_t>(st.st_size));
}

constexpr int kOpenFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

// The file's real path through its descriptor.
std::string RealPathOf(int fd) {
  std::error_code ec;
  const fs::path p = fs::read_symlink(absl::StrCat("/proc/self/fd/", fd), ec);
  return ec ? std::string() : p.string();
}

bool IsInside(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/';
}

}  // namespace

absl::Status ValidateName(absl::string_view name, absl::string_view what) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty name"));
  if (name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": name longer than 128 characters"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat(what, ": '", name, "' is not a name"));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": '", name, "' has a character outside [A-Za-z0-9._-]"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveUnder(const std::string& root,
                                         const std::string& relative,
                                         absl::string_view what) {
  absl::StatusOr<Lexical> lexical = LexicalUnder(root, relative, what);
  if (!lexical.ok()) return lexical.status();
  return std::move(lexical->joined);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

InputFile::InputFile(InputFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      size_(other.size_) {}

InputFile& InputFile::operator=(InputFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    size_ = other.size_;
  }
  return *this;
}

std::string InputFile::ProcPath() const { return absl::StrCat("/proc/self/fd/", fd_); }

absl::StatusOr<InputFile> OpenUnder(const std::string& root, const std::string& path,
                                    absl::string_view what) {
  absl::StatusOr<Lexical> lexical = LexicalUnder(root, path, what);
  if (!lexical.ok()) return lexical.status();
  // The root itself is the operator's choice: following a symlink there is fine.
  FdCloser root_fd(::open(root.empty() ? "." : root.c_str(),
                          O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root_fd.get() < 0) {
    const int err = errno;
    return OpenError(err, what, path, absl::StrCat("root ", root));
  }
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = kOpenFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, root_fd.get(), lexical->relative.c_str(),
                                    &how, sizeof(how)));
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
    // No openat2 here (an old kernel, or a container's seccomp filter): open through
    // the root fd, then check where the descriptor really landed.
    FdCloser opened(::openat(root_fd.get(), lexical->relative.c_str(), kOpenFlags));
    if (opened.get() < 0) {
      const int err = errno;
      return OpenError(err, what, path, lexical->joined);
    }
    const std::string real_root = RealPathOf(root_fd.get());
    const std::string real = RealPathOf(opened.get());
    if (real_root.empty() || real.empty() || !IsInside(real, real_root)) {
      return OpenError(EXDEV, what, path, lexical->joined);
    }
    return Finish(std::move(opened), what, path, lexical->joined);
  }
  if (fd < 0) {
    const int err = errno;
    return OpenError(err, what, path, lexical->joined);
  }
  return Finish(FdCloser(fd), what, path, lexical->joined);
}

absl::StatusOr<InputFile> OpenRegularFile(const std::string& path, absl::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty path"));
  FdCloser fd(::open(path.c_str(), kOpenFlags));
  if (fd.get() < 0) {
    const int err = errno;
    return OpenError(err, what, path, path);
  }
  return Finish(std::move(fd), what, path, path);
}

}  // namespace rib
