// Data-parallel synchronisation of a torch::nn::Module over a ProcessGroup: the initial
// broadcast of weights, bucketed gradient averaging after backward, and summing
// evaluation counts.
#ifndef RIB_WORKER_DIST_GRADIENTS_H_
#define RIB_WORKER_DIST_GRADIENTS_H_

#include <torch/nn/module.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "worker/dist/process_group.h"

namespace rib::dist {

// Default bucket size of AllReduceGradients: PyTorch DDP's default (25 MiB), large
// enough that per-collective latency is amortised, small enough to bound the extra
// memory of the flattened copy.
inline constexpr size_t kDefaultBucketBytes = size_t{25} << 20;

// Overwrites every parameter and buffer of `module` (recursively, in
// named_parameters()/named_buffers() order) with rank `root`'s values, so all ranks
// start from identical weights. Every rank must hold the same architecture. Runs under
// NoGradGuard; tensors are updated in place (optimizer references stay valid).
// Errors: those of ProcessGroup::Broadcast.
absl::Status BroadcastParameters(torch::nn::Module& module, ProcessGroup& group,
                                 int root = 0);

// Averages the gradients of `module`'s parameters over the group: call on every rank
// after backward() and before optimizer.step(). Parameters that do not require grad, or
// whose grad is undefined, are skipped; the set skipped must be the same on every rank
// (it is, when every rank runs the same model and loss: a parameter not used in the
// forward pass has an undefined grad everywhere). Gradients are packed, in parameter
// order, into buckets of at most `bucket_bytes` (one parameter larger than that is a
// bucket of its own), grouped by dtype and device, each bucket all-reduced as one
// flattened tensor, divided by size() and copied back. With size() == 1 it returns OK
// at once and changes nothing.
// Equivalence with one rank: for N ranks to produce the gradient of one rank on the
// whole global batch of B samples, each rank's loss must be (sum of its per-sample
// losses) * N / B. With equal shards (B divisible by N) that is simply each rank's mean
// loss; with uneven shards (see ShardRange) the caller must scale.
// Errors: INVALID_ARGUMENT for sparse gradients; those of ProcessGroup::AllReduceSum.
absl::Status AllReduceGradients(torch::nn::Module& module, ProcessGroup& group,
                                size_t bucket_bytes = kDefaultBucketBytes);

// Sums `counts` element-wise over all ranks, in place (e.g. per-dataset correct/total of
// a sharded evaluation). Every rank must pass the same number of counts.
absl::Status AllReduceCounts(std::vector<int64_t>& counts, ProcessGroup& group);

// The contiguous shard [begin, end) of `n` items that `rank` of `world_size` handles:
// sizes differ by at most one, lower ranks take the extra items. For sharding a global
// batch (n = global batch size) or an evaluation set.
struct Shard {
  int64_t begin = 0;
  int64_t end = 0;
};
Shard ShardRange(int64_t n, int rank, int world_size);

}  // namespace rib::dist

#endif  // RIB_WORKER_DIST_GRADIENTS_H_
