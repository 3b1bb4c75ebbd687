#include "worker/engine/pth_archive.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "worker/engine/torch_pickle.h"

namespace rib::engine {
namespace {

c10::ScalarType ToScalarType(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kFloat:
      return torch::kFloat32;
    case StorageDtype::kDouble:
      return torch::kFloat64;
    case StorageDtype::kHalf:
      return torch::kFloat16;
    case StorageDtype::kBFloat16:
      return torch::kBFloat16;
    case StorageDtype::kLong:
      return torch::kInt64;
    case StorageDtype::kInt:
      return torch::kInt32;
    case StorageDtype::kShort:
      return torch::kInt16;
    case StorageDtype::kChar:
      return torch::kInt8;
    case StorageDtype::kByte:
      return torch::kUInt8;
    case StorageDtype::kBool:
      return torch::kBool;
  }
  return torch::kFloat32;
}

// The highest element index the view touches, +1 (0 for an empty tensor); false when
// the arithmetic overflows.
bool ViewExtent(const PickledTensor& t, int64_t* extent) {
  int64_t last = t.storage_offset;
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    if (t.sizes[d] == 0) {
      *extent = 0;
      return true;
    }
    int64_t step = 0;
    if (__builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &step) ||
        __builtin_add_overflow(last, step, &last)) {
      return false;
    }
  }
  *extent = last + 1;
  return true;
}

// One storage record, read once and shared by every view of it.
struct Storage {
  at::DataPtr data;
  int64_t numel = 0;
  StorageDtype dtype = StorageDtype::kFloat;
};

absl::StatusOr<NamedTensors> Read(caffe2::serialize::PyTorchStreamReader& reader,
                                  const std::string& path) {
  if (!reader.hasRecord("data.pkl")) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no data.pkl in the archive (not a torch.save file)"));
  }
  if (reader.hasRecord("byteorder")) {
    auto [bytes, size] = reader.getRecord("byteorder");
    const std::string order(static_cast<const char*>(bytes.get()), size);
    if (order != "little") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": byteorder '", order, "' (only little-endian is read)"));
    }
  }
  auto [pickle, pickle_size] = reader.getRecord("data.pkl");
  auto parsed = ParseStateDictPickle(
      std::string_view(static_cast<const char*>(pickle.get()), pickle_size));
  if (!parsed.ok()) return Annotate(parsed.status(), path);

  std::map<std::string, Storage> storages;
  NamedTensors out;
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : *parsed) {
    const std::string where = absl::StrCat(path, ": tensor '", name, "'");
    auto it = storages.find(t.storage_key);
    if (it == storages.end()) {
      const std::string record = absl::StrCat("data/", t.storage_key);
      if (!reader.hasRecord(record)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": storage '", t.storage_key, "' has no record ", record));
      }
      int64_t want = 0;
      if (__builtin_mul_overflow(t.storage_numel, StorageElementSize(t.dtype), &want)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": storage numel overflows"));
      }
      auto [bytes, size] = reader.getRecord(record);
      if (static_cast<uint64_t>(size) < static_cast<uint64_t>(want)) {
        return absl::DataLossError(absl::StrCat(where, ": storage '", t.storage_key,
                                                "' has ", size, " bytes, ", want,
                                                " declared"));
      }
      it =
          storages
              .emplace(t.storage_key, Storage{std::move(bytes), t.storage_numel, t.dtype})
              .first;
    }
    const Storage& s = it->second;
    if (s.dtype != t.dtype || s.numel != t.storage_numel) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": storage '", t.storage_key,
                       "' is declared twice with different types"));
    }
    int64_t extent = 0;
    if (!ViewExtent(t, &extent) || extent > s.numel) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": its view (offset ", t.storage_offset,
                       ", sizes and strides) reaches past "
                       "the end of storage '",
                       t.storage_key, "' (", s.numel, " elements)"));
    }
    const torch::Tensor whole = torch::from_blob(
        s.data.get(), {s.numel}, torch::TensorOptions().dtype(ToScalarType(s.dtype)));
    out.emplace_back(name, whole.as_strided(t.sizes, t.strides, t.storage_offset)
                               .clone(at::MemoryFormat::Contiguous));
  }
  return out;
}

}  // namespace

absl::StatusOr<NamedTensors> ReadTorchStateDict(const InputFile& file) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.ProcPath());
  } catch (const std::exception& e) {
    // The reader's message can quote the file; say what it is not.
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": not a readable torch.save zip archive"));
  }
  try {
    return Read(*reader, file.path());
  } catch (const std::exception& e) {
    // A record whose compressed data or CRC is damaged: the archive lost data.
    return absl::DataLossError(
        absl::StrCat(file.path(), ": a damaged record in the zip archive"));
  }
}

}  // namespace rib::engine
