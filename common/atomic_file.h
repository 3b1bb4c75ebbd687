// Publishing a file so that no reader ever sees it half-written, even when several
// writers (threads, processes, containers sharing a volume) publish the same path at
// once: each writer fills its own temporary file beside the target, flushes it, renames
// it over the target (atomic within one file system: a reader sees the old file or one
// writer's complete new file, never a mix), then flushes the directory so the rename
// itself survives a crash.
//
// Temporary names are "<path>.tmp.<host>.<pid>.<random>": the pid alone repeats across
// containers (each has its own pid 1, 2, ...) and across hosts sharing a volume, the
// host name alone across processes, and the random part covers threads of one process
// and pid reuse. Every rib writer of published files uses this (checkpoints, weights,
// job files, dataset builds).
//
// Thread-safety: free functions, thread-safe (no shared state besides the random source,
// which is per thread).
#ifndef RIB_COMMON_ATOMIC_FILE_H_
#define RIB_COMMON_ATOMIC_FILE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rib {

// A fresh temporary name beside `path` (same folder, so the rename stays in one file
// system), unique per writer: "<path>.tmp.<host>.<pid>.<16 hex digits>". The host name
// is reduced to [A-Za-z0-9-] and at most 32 characters. Works for folders too.
std::string UniqueTempPath(absl::string_view path);

// Flushes the folder `dir` (fsync of its descriptor): makes the renames and unlinks
// done in it durable. INTERNAL naming the folder on failure.
absl::Status SyncDirectory(const std::string& dir);

// Renames `tmp` (a flushed file or folder from UniqueTempPath(path)) to `path`, then
// flushes path's folder. On a failed rename `tmp` is left for the caller to remove.
// INTERNAL naming both paths and the errno on failure.
absl::Status PublishTempFile(const std::string& tmp, const std::string& path);

// Writes `data` to `path` atomically: a UniqueTempPath file with permissions `mode`
// (less the umask; 0600 for a secret, whatever mode an older file had), written fully
// and fsynced, then PublishTempFile. The temporary file is removed on any failure.
// PERMISSION_DENIED when the temporary file cannot be created, INTERNAL for a failed
// write, flush or rename; each names the path and the errno.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view data,
                                 mode_t mode = 0644);

}  // namespace rib

#endif  // RIB_COMMON_ATOMIC_FILE_H_
