// Data-parallel synchronisation over a rib::dist::ProcessGroup (DESIGN §6), the one
// implementation the trainer, evaluation and methods use: the broadcast of rank 0's
// weights, bucketed averaging of gradients after backward, and sums (evaluation counts,
// reported losses, Fisher estimates).
//
// Every function is a no-op returning OK when `group` is nullptr or has one rank, so
// callers need no branches. Every rank must make the same calls with tensors of the
// same count, shapes and dtypes, in the same order. Errors from the group (a peer died,
// a timeout: UNAVAILABLE; tensors that disagree across ranks: INVALID_ARGUMENT) come
// back as its status. Not thread-safe for one group: one thread drives a rank's
// collectives.
#ifndef RIB_WORKER_ENGINE_COLLECTIVES_H_
#define RIB_WORKER_ENGINE_COLLECTIVES_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace rib::dist {
class ProcessGroup;
}  // namespace rib::dist

namespace rib::engine {

// Default bucket size of the flattened collectives: PyTorch DDP's (25 MiB), large
// enough that per-collective latency is amortised, small enough to bound the memory of
// the flattened copy.
inline constexpr int64_t kDefaultBucketBytes = int64_t{25} << 20;

int GroupRank(dist::ProcessGroup* group);
int GroupSize(dist::ProcessGroup* group);

// Copies rank `root`'s values into every rank's tensors, in place (optimizer references
// stay valid); undefined tensors are skipped. Runs under NoGradGuard, so parameters can
// be passed as they are.
// Errors: INVALID_ARGUMENT when `root` is not a rank of the group; the group's.
absl::Status Broadcast(dist::ProcessGroup* group, std::vector<torch::Tensor> tensors,
                       int root = 0);

// In-place element-wise sum across ranks (any dtype; tensors may live on another
// device than the group's, e.g. CPU counts with an NCCL group).
absl::Status AllReduceSum(dist::ProcessGroup* group, std::vector<torch::Tensor> tensors);

// Replaces the gradient of each of `params` by its mean over the ranks: call on every
// rank after backward() and before optimizer.step(). Gradients are packed, in order,
// into buckets of at most `bucket_bytes` per dtype (one gradient larger than that is a
// bucket of its own), each all-reduced as one flattened tensor and divided by size().
// Parameters that do not require grad are skipped. A gradient undefined on some ranks
// only (a rank whose shard was empty) counts as zero there; one undefined on every rank
// (a layer the forward pass never used) stays undefined, so the optimiser skips it as it
// would with one rank. With one rank nothing changes.
// Equivalence with one rank: for N ranks to produce the gradient of one rank on the
// whole global batch of B samples, each rank's loss must be (sum of its per-sample
// losses) * N / B; with equal shards that is each rank's mean loss (the trainer scales
// uneven ones).
// Errors: INVALID_ARGUMENT for sparse gradients; the group's.
absl::Status AllReduceGradients(dist::ProcessGroup* group,
                                const std::vector<torch::Tensor>& params,
                                int64_t bucket_bytes = kDefaultBucketBytes);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_COLLECTIVES_H_
