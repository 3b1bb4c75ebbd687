// Training checkpoints: a flat name → tensor map (weights, optimiser momentum, step,
// epoch, loss-scale state) serialised with torch's pickler, written atomically
// (common/atomic_file.h: a per-writer temporary file in the same folder, fsync, rename,
// folder fsync) so a reader never sees a partial file, even with two writers of one
// path. Thread-compatible free functions.
#ifndef RIB_WORKER_ENGINE_CHECKPOINT_H_
#define RIB_WORKER_ENGINE_CHECKPOINT_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace rib::engine {

using TensorMap = std::map<std::string, torch::Tensor>;

// Tensors are copied to CPU. INTERNAL/PERMISSION_DENIED naming the path on failure.
absl::Status WriteCheckpointFile(const std::string& path, const TensorMap& tensors);
// NOT_FOUND when missing; DATA_LOSS when the file is not a checkpoint (truncated,
// damaged, another format).
absl::StatusOr<TensorMap> ReadCheckpointFile(const std::string& path);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_CHECKPOINT_H_
