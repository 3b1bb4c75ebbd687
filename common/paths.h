// Confinement of user-supplied names and paths (DESIGN §10): dataset keys, weight
// paths and artifact names must stay under their root.
//
// ResolveUnder is lexical (it never touches the file system): it catches "..", not a
// symbolic link under the root that points out of it. Whatever opens a file named by a
// sweep (model and dependency weights, resume checkpoints) goes through OpenUnder,
// which resolves the path with the kernel's openat2(RESOLVE_BENEATH) relative to the
// root, so no symlink, ".." or /proc magic link can leave it; symlinks that stay inside
// the root still work.
//
// Thread-safety: pure functions and a move-only value type; thread-safe.
#ifndef RIB_COMMON_PATHS_H_
#define RIB_COMMON_PATHS_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rib {

// A name usable as one path component: [A-Za-z0-9._-]+, not "." or "..", at most 128
// characters. INVALID_ARGUMENT naming `what` and the value otherwise.
absl::Status ValidateName(absl::string_view name, absl::string_view what);

// Joins `relative` under `root` and checks that the (lexically normalised) result stays
// inside root. Absolute `relative` paths are accepted when they are inside root.
// INVALID_ARGUMENT naming `what` when the path escapes (e.g. through "..").
absl::StatusOr<std::string> ResolveUnder(const std::string& root,
                                         const std::string& relative,
                                         absl::string_view what);

// A regular file open for reading. Owns its descriptor (closed by the destructor);
// movable, not copyable.
class InputFile {
 public:
  InputFile(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~InputFile();
  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&& other) noexcept;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  int fd() const { return fd_; }
  // The path it was opened by (root joined, lexically normalised): for messages.
  const std::string& path() const { return path_; }
  // Its size when it was opened.
  uint64_t size() const { return size_; }
  // "/proc/self/fd/<fd>": names this very file for libraries that only open by name
  // (opening it reopens the same inode, whatever the path now points to). Valid while
  // this object lives.
  std::string ProcPath() const;

 private:
  int fd_;
  std::string path_;
  uint64_t size_;
};

// Opens `path` (relative to `root`, or absolute inside it) for reading without ever
// leaving `root`: the lexical check of ResolveUnder, then openat2(root fd, ...,
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), opened O_NONBLOCK so that a FIFO cannot
// block, then fstat. Where the kernel lacks openat2 (ENOSYS, or a seccomp filter's
// EPERM) the file is opened relative to the root fd and its real path (/proc/self/fd)
// is checked to be inside the root's real path instead.
// Errors, each naming `what` and the path: INVALID_ARGUMENT for a lexical escape ("..",
// an absolute path elsewhere) or a file that is not a regular file (a directory, a
// FIFO, a device); PERMISSION_DENIED when resolution leaves the root (a symlink pointing
// out of it) or the file is not readable; NOT_FOUND when it (or the root) does not exist.
absl::StatusOr<InputFile> OpenUnder(const std::string& root, const std::string& path,
                                    absl::string_view what);

// Opens `path` as given (no root: rib-run's local files) with the same regular-file
// check: O_NONBLOCK, fstat, INVALID_ARGUMENT when not a regular file, NOT_FOUND when
// missing, PERMISSION_DENIED when unreadable.
absl::StatusOr<InputFile> OpenRegularFile(const std::string& path, absl::string_view what);

}  // namespace rib

#endif  // RIB_COMMON_PATHS_H_
