// Reads a `torch.save`d state_dict (torchvision's .pth files, PyTorch >= 1.6's zip
// layout: <name>/data.pkl, <name>/data/<key> storage records, <name>/byteorder,
// <name>/version) without running any of it: the zip through LibTorch's
// caffe2::serialize::PyTorchStreamReader, data.pkl through the restricted unpickler of
// torch_pickle.h, and each tensor as a bounds-checked strided view of its storage.
//
// Errors, all prefixed with the file's path: INVALID_ARGUMENT for an archive that is not
// a zip, has no data.pkl, a refused pickle (naming the opcode or global), a big-endian
// byteorder, a storage key with no record, a view that reaches past its storage;
// DATA_LOSS for a storage record shorter than its declared numel.
//
// Thread-safety: a pure function; thread-safe.
#ifndef RIB_WORKER_ENGINE_PTH_ARCHIVE_H_
#define RIB_WORKER_ENGINE_PTH_ARCHIVE_H_

#include "absl/status/statusor.h"
#include "common/paths.h"
#include "worker/engine/safetensors.h"

namespace rib::engine {

// The state_dict's tensors in file order, each contiguous and owning its memory
// (float32/64, float16, bfloat16, int64/32/16, int8, uint8 and bool as stored).
absl::StatusOr<NamedTensors> ReadTorchStateDict(const InputFile& file);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_PTH_ARCHIVE_H_
