// A small model and synthetic dataset shared by the data-parallel test and the rank
// helper binary, so one rank in the test process and N rank processes run exactly the
// same training code: the product's trainer (engine::Train) and its collectives.
#ifndef RIB_TESTS_WORKER_DIST_DIST_TEST_MODEL_H_
#define RIB_TESTS_WORKER_DIST_DIST_TEST_MODEL_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/dist/process_group.h"

namespace rib::dist::testing {

// 2-layer MLP (8 -> 16 -> 4) plus the cases engine::AllReduceGradients must skip: a
// frozen parameter used in forward (requires_grad false), a layer never used in forward
// (undefined grad), and a buffer (broadcast but not trained).
struct TinyMlpImpl : torch::nn::Module {
  TinyMlpImpl();
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr};
  torch::nn::Linear fc2{nullptr};
  torch::nn::Linear unused{nullptr};
  torch::Tensor frozen_scale;
  torch::Tensor marker;  // buffer
};
TORCH_MODULE(TinyMlp);

struct TrainOptions {
  // Initial weights come from torch::manual_seed(init_seed); ranks pass different
  // seeds to show that the trainer's broadcast makes them equal.
  uint64_t init_seed = 1;
  int steps = 12;
  int64_t global_batch = 16;
  double lr = 0.1;
  double momentum = 0.9;
  // Small, to split the gradients into several buckets.
  size_t bucket_bytes = 256;
};

// Trains a fresh TinyMlp on the fixed synthetic dataset (seeded, 96 samples) with
// engine::Train over `group`: rank 0's state broadcast first, then every step takes the
// next global batch (no shuffling) and this rank's shard of it, mean cross-entropy,
// backward, the trainer's gradient averaging, SGD step (constant lr, no warm-up).
// Returns the final parameters and buffers in named order.
absl::StatusOr<std::vector<torch::Tensor>> Train(const TrainOptions& options,
                                                 ProcessGroup& group);

// Names of the tensors Train() returns, in its order ("fc1.weight", ..., "marker").
std::vector<std::string> WeightNames();

// Largest absolute element-wise difference between two lists of same-shaped tensors
// (infinity when the lists do not match in count or shape).
double MaxAbsDiff(const std::vector<torch::Tensor>& a,
                  const std::vector<torch::Tensor>& b);

}  // namespace rib::dist::testing

#endif  // RIB_TESTS_WORKER_DIST_DIST_TEST_MODEL_H_
