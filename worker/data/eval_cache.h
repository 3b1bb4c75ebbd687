// The evaluation cache of one worker node (issue 16, item 3): each (evaluation dataset,
// split selection, subset, preprocessing) is decoded, resized and cropped once into a
// uint8 file under the cache root, and every later evaluation reads the pixels from it
// (memory-mapped) instead of decoding the images again.
//
// What is stored: the 8-bit pixels a DatasetSource's LoadImage() produces just before
// normalisation, per example in the order given, with the labels, the Example::index
// of each row and whether it failed to decode. Normalisation stays a float operation
// at read time: a per-channel table of the 256 normalised values, taken from
// PreprocessImage itself (image.h) on a synthetic image, so a cached image is the
// same float tensor, bit for bit, as the uncached one. The build checks that: every
// pixel LoadImage returned must be one of the table's values (else the dataset is not
// cached, with a WARNING, and the caller decodes as before).
//
// Key (the entry's file name): SHA-256 of the format version, the dataset key and data
// root, the preprocessing, the subset, and per example its index, label and file
// (path, size, modification time in ns) — or, for the FMNIST-RIB suite, whose images
// live in the suite's build, that build's manifest hash. What the key cannot see (a
// rib build that decodes or resamples differently) the spot check on open catches.
//
// File: a 128-byte header (magic "RIBEVC01", format version, key, count, C/H/W, CRC-32
// of everything after the header), int64 indices[count], int64 labels[count],
// uint8 failed[count], padding to 64 bytes, uint8 pixels[count][C][H][W]. Written to a
// temporary file and renamed into place (common/atomic_file.h), under an exclusive
// flock on "<key>.lock", so of concurrent jobs and ranks that miss the same entry one
// builds and the others wait for it (calling `alive` meanwhile). Verified on open:
// header, key, size, the CRC of the whole payload (one pass over the file, read again
// by the evaluation from the page cache), and a spot check: the first stored image is
// decoded again through the source and must give the stored pixels. A file that fails
// is deleted and built again, with a WARNING naming it.
//
// Size: at most max_bytes of entries. After each build the least recently used entries
// (by modification time, set to now on each open) are deleted until the total fits;
// an entry open anywhere (a shared flock, held while it is mapped) is never deleted.
// A single entry larger than max_bytes is not built (the dataset is decoded as before).
//
// Counts: each entry opened counts a hit (it existed, or another process built it while
// this one waited) or a miss (this process built it, or it could not be cached), in the
// folder's stats file (eval_cache_stats.h), which the worker's /metrics reads.
//
// Thread-safety: an EvalCache may be used from one thread at a time; the sources it
// returns are immutable and their LoadImage() is thread-safe (as DatasetSource's
// contract asks). Different processes may share one root.
#ifndef RIB_WORKER_DATA_EVAL_CACHE_H_
#define RIB_WORKER_DATA_EVAL_CACHE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/dataset.h"
#include "worker/data/source.h"

namespace rib::data {

struct EvalCacheOptions {
  // Folder of the cache (created if missing). Required.
  std::string root;
  // Bound on the entries' total size. Default 20 GiB: the FMNIST-RIB suite takes a few
  // MB; ImageNet-C's test split at 224 px about 110 GB, so size it to the disk.
  int64_t max_bytes = int64_t{20} << 30;
  // Decoding threads while building an entry; 0 = all hardware threads.
  int threads = 0;
};

class EvalCache {
 public:
  // INVALID_ARGUMENT for an empty root or max_bytes <= 0, INTERNAL naming the folder
  // when it cannot be created.
  static absl::StatusOr<std::unique_ptr<EvalCache>> Create(EvalCacheOptions options);

  // A DatasetSource that serves `examples` (a selection of source.examples(), e.g. a
  // split's test side) from the cache, building the missing entries first by decoding
  // through `source` (which must outlive the result; other examples are passed through
  // to it). `options` must be the ones `source` was opened with. `alive` (may be empty)
  // is called at least every second while building or waiting for another process's
  // build. Returns nullptr, with a log line, when a subset cannot be cached (an entry
  // larger than max_bytes, pixels that are not 8-bit values normalised, images of
  // another shape). Errors: those of decoding (the uncached path's: DATA_LOSS /
  // NOT_FOUND naming the file are recorded per example, others fail), INTERNAL naming
  // the file for I/O errors on the cache.
  absl::StatusOr<std::unique_ptr<DatasetSource>> Open(
      const DatasetSource& source, const std::vector<Example>& examples,
      const DatasetOptions& options, const std::function<void()>& alive = {});

  const EvalCacheOptions& options() const { return options_; }
  // Entry opens by this object so far (the stats file sums all processes).
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }

 private:
  explicit EvalCache(EvalCacheOptions options) : options_(std::move(options)) {}
  const EvalCacheOptions options_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_EVAL_CACHE_H_
