// The evaluation cache's numbers as a worker's /metrics reports them, read from the
// cache folder itself (worker/data/eval_cache.h writes it): the ranks that use the cache
// are child processes of the agent, so the folder is where their counts meet. Header
// only and torch-free, so the agent (which does not link LibTorch) reads the same
// format the ranks write.
//
// Layout of the folder: "<key>.evc" entries (their size is the cache's size), "<key>.lock"
// build locks (empty), and "stats": two little-endian uint64 counters, hits then misses,
// updated under an exclusive flock on the file by every process that opens an entry.
//
// Thread-safety: free functions over the file system; safe from any thread or process.
#ifndef RIB_WORKER_DATA_EVAL_CACHE_STATS_H_
#define RIB_WORKER_DATA_EVAL_CACHE_STATS_H_

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace rib::data {

inline constexpr char kEvalCacheEntrySuffix[] = ".evc";
inline constexpr char kEvalCacheStatsFile[] = "stats";

struct EvalCacheStats {
  int64_t bytes = 0;    // total size of the entries now in the folder
  int64_t entries = 0;  // number of entries
  // Entry opens since the folder was made: served from an existing entry / had to be
  // built (or could not be cached). Summed over every process using the folder.
  int64_t hits = 0;
  int64_t misses = 0;
};

namespace internal {

// Reads (and, when add_hits/add_misses are non-zero, adds to) the counters of `root`'s
// stats file. Returns false when the file cannot be opened (no cache folder yet).
inline bool UpdateEvalCacheCounters(const std::string& root, int64_t add_hits,
                                    int64_t add_misses, int64_t* hits, int64_t* misses) {
  const std::string path = root + "/" + kEvalCacheStatsFile;
  const bool write = add_hits != 0 || add_misses != 0;
  const int fd = ::open(path.c_str(), write ? (O_RDWR | O_CREAT | O_CLOEXEC)
                                            : (O_RDONLY | O_CLOEXEC),
                        0644);
  if (fd < 0) return false;
  ::flock(fd, write ? LOCK_EX : LOCK_SH);
  uint64_t counts[2] = {0, 0};
  if (::pread(fd, counts, sizeof(counts), 0) != static_cast<ssize_t>(sizeof(counts))) {
    counts[0] = counts[1] = 0;  // new (or short) file: counting starts now
  }
  counts[0] += static_cast<uint64_t>(add_hits);
  counts[1] += static_cast<uint64_t>(add_misses);
  if (write) (void)!::pwrite(fd, counts, sizeof(counts), 0);
  ::flock(fd, LOCK_UN);
  ::close(fd);
  if (hits != nullptr) *hits = static_cast<int64_t>(counts[0]);
  if (misses != nullptr) *misses = static_cast<int64_t>(counts[1]);
  return true;
}

}  // namespace internal

// --cache-max-gb (GiB, as rib-worker and rib-run take it) in bytes; false when it is
// not a positive number.
inline bool EvalCacheBytesFromGib(double gib, int64_t* bytes) {
  if (!(gib > 0) || gib > 1e9) return false;
  *bytes = static_cast<int64_t>(gib * static_cast<double>(int64_t{1} << 30));
  return true;
}

// The numbers of the cache folder `root` (all zero when it does not exist yet).
inline EvalCacheStats ReadEvalCacheStats(const std::string& root) {
  EvalCacheStats stats;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(root, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() != kEvalCacheEntrySuffix) continue;
    std::error_code size_ec;
    const auto size = it->file_size(size_ec);
    if (size_ec) continue;  // evicted while listed
    stats.bytes += static_cast<int64_t>(size);
    ++stats.entries;
  }
  internal::UpdateEvalCacheCounters(root, 0, 0, &stats.hits, &stats.misses);
  return stats;
}

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_EVAL_CACHE_STATS_H_
