// The few collectives the engine needs, over a rib::dist::ProcessGroup. Every function
// is a no-op returning OK when `group` is nullptr (single process), so callers need
// no branches. Errors from the group (a peer died, a timeout) come back as its status.
#ifndef RIB_WORKER_ENGINE_COLLECTIVES_H_
#define RIB_WORKER_ENGINE_COLLECTIVES_H_

#include <torch/torch.h>

#include <vector>

#include "absl/status/status.h"

namespace rib::dist {
class ProcessGroup;
}  // namespace rib::dist

namespace rib::engine {

int GroupRank(dist::ProcessGroup* group);
int GroupSize(dist::ProcessGroup* group);

// Copies rank 0's values into every rank's tensors (in place).
absl::Status BroadcastFromRank0(dist::ProcessGroup* group, std::vector<torch::Tensor> tensors);
// In-place sum across ranks.
absl::Status AllReduceSum(dist::ProcessGroup* group, std::vector<torch::Tensor> tensors);
// In-place mean of the gradients of `params` across ranks (parameters without a
// gradient get a zero one first, so every rank reduces the same tensors).
absl::Status AllReduceGradients(dist::ProcessGroup* group,
                                const std::vector<torch::Tensor>& params);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_COLLECTIVES_H_
