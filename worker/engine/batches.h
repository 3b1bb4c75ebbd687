// The engine's view of data: streams of preprocessed batches. The trainer and the
// evaluator read these interfaces only, so they run the same on the data library's
// loaders (runner.cc adapts them) and on in-memory tensors (tests, pre-training).
//
// Implementations are not thread-safe: one loop owns a stream.
#ifndef RIB_WORKER_ENGINE_BATCHES_H_
#define RIB_WORKER_ENGINE_BATCHES_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rib::engine {

struct Batch {
  torch::Tensor images;              // float [N, C, H, W], normalised
  torch::Tensor labels;              // int64 [N], dataset label space
  std::vector<std::string> subsets;  // per example ("" when the dataset has none)
  // Example::index of each example (data::Batch::indices), or empty when the stream
  // has none (in-memory tensors); the evaluator's per-image bits need them.
  std::vector<int64_t> indices;
  // Examples of this batch that failed to decode and were left out.
  int64_t skipped = 0;
};

// A finite sequence of batches.
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  // Fills *batch and returns true, or returns false at the end.
  virtual absl::StatusOr<bool> Next(Batch* batch) = 0;
};

// Training data: one stream per epoch, deterministic in (seed, epoch), already
// restricted to this rank's shard of every global batch.
class TrainData {
 public:
  virtual ~TrainData() = default;
  // Optimiser steps in one epoch (equal on every rank).
  virtual int64_t steps_per_epoch() const = 0;
  virtual absl::StatusOr<std::unique_ptr<BatchStream>> Epoch(int epoch) = 0;
};

// In-memory tensors: a seeded shuffle per epoch (seed, epoch), batches of batch_size,
// sharded by rank (each global batch split into world_size contiguous parts).
// Optional per-batch transform (augmentation) applied to the images, called with a
// generator seeded from (seed, epoch, step).
class TensorTrainData : public TrainData {
 public:
  struct Options {
    int64_t batch_size = 64;  // global batch
    bool shuffle = true;
    int64_t seed = 0;
    int rank = 0;
    int world_size = 1;
    bool drop_last = false;
    std::function<torch::Tensor(const torch::Tensor& images, int64_t batch_seed)> augment;
  };
  TensorTrainData(torch::Tensor images, torch::Tensor labels, Options options);
  int64_t steps_per_epoch() const override;
  absl::StatusOr<std::unique_ptr<BatchStream>> Epoch(int epoch) override;

 private:
  torch::Tensor images_;
  torch::Tensor labels_;
  Options options_;
};

// In-memory evaluation stream over tensors (optionally with per-example subsets).
std::unique_ptr<BatchStream> MakeTensorStream(torch::Tensor images, torch::Tensor labels,
                                              int64_t batch_size,
                                              std::vector<std::string> subsets = {});

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_BATCHES_H_
