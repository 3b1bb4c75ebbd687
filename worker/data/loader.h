// Batches of decoded images for training and evaluation.
//
// Order: the examples are permuted with (seed, epoch) (or kept in order without
// shuffle) and cut into GLOBAL batches of batch_size * world_size examples; rank r takes
// the r-th contiguous slice of each global batch. So N ranks with batch b/N see exactly
// the examples one rank with batch b sees, and every rank yields the same number of
// batches (collectives stay in step). The last global batch, when partial and not
// dropped, is split as evenly as possible; a rank's share may then be empty (a batch
// with zero rows).
//
// Decoding runs on a pool of `threads` threads, at most `prefetch_batches` batches ahead
// of the consumer (bounded memory).
//
// Thread-safety: one consumer thread calls Next(); the loader owns its threads and joins
// them on destruction.
#ifndef RIB_WORKER_DATA_LOADER_H_
#define RIB_WORKER_DATA_LOADER_H_

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/dataset.h"
#include "worker/data/source.h"

namespace rib::data {

struct Batch {
  torch::Tensor images;              // [N, C, H, W] float
  torch::Tensor labels;              // [N] int64, in the dataset's label space
  std::vector<int64_t> indices;      // Example::index of each row
  std::vector<std::string> subsets;  // Example::subset of each row
  int64_t skipped = 0;               // examples of this batch dropped as corrupt
};

struct LoaderOptions {
  // Examples per rank per batch (the global batch is batch_size * world_size). >= 1.
  int batch_size = 64;
  // Permute the examples each epoch (training); false keeps their given order (eval).
  bool shuffle = false;
  // With epoch, seeds the permutation: the same (seed, epoch) gives the same order.
  int64_t seed = 0;
  int64_t epoch = 0;
  // This process's shard of every global batch.
  int rank = 0;
  int world_size = 1;
  // Decoding threads; 0 = std::thread::hardware_concurrency().
  int threads = 0;
  // Batches decoded ahead of the consumer (memory bound: prefetch * batch tensors). >= 1.
  size_t prefetch_batches = 2;
  // Drop the last global batch when it is partial (training); keep it for evaluation.
  bool drop_last = false;
  // Skip (and count in Batch::skipped) examples that fail to decode instead of failing.
  bool skip_corrupt = false;
};

class BatchLoader {
 public:
  // `source` must outlive the loader. INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<BatchLoader>> Create(
      const DatasetSource* source, std::vector<Example> examples, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Fills *out with the next batch and returns true, or returns false at the end of the
  // epoch. An example that fails to decode fails the call with its path (DATA_LOSS /
  // NOT_FOUND) unless skip_corrupt.
  absl::StatusOr<bool> Next(Batch* out);

  // Batches this rank yields per epoch (the same on every rank).
  int64_t num_batches() const;
  // Examples skipped as corrupt so far.
  int64_t total_skipped() const;

  class Impl;

 private:
  explicit BatchLoader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_LOADER_H_
