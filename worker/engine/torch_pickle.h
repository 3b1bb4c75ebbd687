// A restricted unpickler for the data.pkl of a `torch.save`d state_dict (torchvision's
// .pth files): an OrderedDict (or dict) of name -> tensor, where each tensor is
// torch._utils._rebuild_tensor_v2 (or _rebuild_parameter around it) applied to a
// persistent storage reference ('storage', torch.<T>Storage, key, location, numel).
//
// No code is ever run: the only globals accepted are collections.OrderedDict,
// torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the torch
// storage types listed in StorageDtype, and they are interpreted here, not called.
// Every other GLOBAL / STACK_GLOBAL, REDUCE of anything else, BUILD on anything but an
// OrderedDict (whose state, e.g. torchvision's `_metadata`, is read and discarded),
// INST, OBJ, NEWOBJ, EXT1/2/4 and unknown opcodes are refused with INVALID_ARGUMENT
// naming the refused global or opcode and its byte offset. Recursive structures, more
// than kMaxDepth levels of nesting and truncated input are refused the same way.
//
// This file knows nothing of torch (pth_archive.h turns the result into tensors).
// Thread-safety: a pure function; thread-safe.
#ifndef RIB_WORKER_ENGINE_TORCH_PICKLE_H_
#define RIB_WORKER_ENGINE_TORCH_PICKLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace rib::engine {

// The element types of torch's legacy storage classes (torch.FloatStorage, ...).
enum class StorageDtype {
  kFloat,
  kDouble,
  kHalf,
  kBFloat16,
  kLong,
  kInt,
  kShort,
  kChar,
  kByte,
  kBool
};

// Bytes per element of `dtype`.
int64_t StorageElementSize(StorageDtype dtype);

// One tensor as the pickle describes it: a strided view of storage `storage_key`
// (the archive record data/<storage_key>) holding `storage_numel` elements. Nothing is
// checked against the storage here except that the numbers are non-negative.
struct PickledTensor {
  std::string storage_key;
  StorageDtype dtype = StorageDtype::kFloat;
  int64_t storage_numel = 0;
  int64_t storage_offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

// The most nested containers the unpickler builds (a state_dict needs 4).
inline constexpr int kMaxPickleDepth = 32;

// Parses `data` (a whole data.pkl, protocol 2 to 5) into the state_dict's entries in
// file order. INVALID_ARGUMENT as above; also when the top-level object is not a dict
// of string -> tensor (naming the first key whose value is not a tensor) or a key
// appears twice.
absl::StatusOr<std::vector<std::pair<std::string, PickledTensor>>> ParseStateDictPickle(
    std::string_view data);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_TORCH_PICKLE_H_
