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
#include "worker/engine/model.h"

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

// ewc's Fisher (engine::EstimateFisher) of TinyClassifier (seed 7, batch norm, eval
// mode: what ewc estimates it in) on a fixed 26-example sample, this rank taking its
// contiguous share of each global batch of 8 (engine::TensorTrainData's sharding, the
// data loader's rule): with 4 ranks the last global batch of 2 leaves two ranks empty.
// `group` nullptr = one rank. The Fisher tensors in named-parameter order.
absl::StatusOr<std::vector<torch::Tensor>> Fisher(ProcessGroup* group);

// A ResNet with batch norm (engine "fmnist_resnet", init seed 100 + rank: only the
// trainer's broadcast makes ranks agree) fine-tuned with the ft method through
// engine::Train on `group` (5 steps of global batch 16 over 48 fixed examples: the last
// epoch ends mid-way), then evaluated, sharded, on 40 other fixed examples
// (engine::Evaluate, counts summed over ranks). The trained model and its counts.
struct BnRun {
  engine::Classifier model{nullptr};
  int64_t correct = 0;
  int64_t total = 0;
};
absl::StatusOr<BnRun> TrainAndEvaluateBatchNorm(ProcessGroup* group);
// The 40 evaluation examples of TrainAndEvaluateBatchNorm: a 1-rank evaluation of
// `model` on them (batch 7, another grouping than the ranks').
absl::StatusOr<BnRun> EvaluateBatchNorm(engine::Classifier model);

// Names of the tensors Train() returns, in its order ("fc1.weight", ..., "marker").
std::vector<std::string> WeightNames();

// Largest absolute element-wise difference between two lists of same-shaped tensors
// (infinity when the lists do not match in count or shape).
double MaxAbsDiff(const std::vector<torch::Tensor>& a,
                  const std::vector<torch::Tensor>& b);

}  // namespace rib::dist::testing

#endif  // RIB_TESTS_WORKER_DIST_DIST_TEST_MODEL_H_
