#include "worker/engine/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "common/json_reader.h"
#include "common/status_macros.h"

namespace rib::engine {
namespace {

// A non-negative integer that fits in int64 ("12"; not "1.0", "-1", "1e3").
bool ToCount(const JsonValue& value, uint64_t& out) {
  if (value.type != JsonValue::Type::kNumber || value.text.empty() ||
      value.text.size() > 19) {
    return false;
  }
  uint64_t v = 0;
  for (char c : value.text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  out = v;
  return true;
}

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  uint64_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo* FindDtype(torch::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return &d;
  }
  return nullptr;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status ParseEntry(const std::string& name, const JsonValue& value,
                        uint64_t data_size, SafetensorsEntry& entry) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", what));
  };
  if (value.type != JsonValue::Type::kObject) {
    return bad(absl::StrCat("expected an object, got ", JsonTypeName(value.type)));
  }
  entry.name = name;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  for (const auto& [key, field] : value.object) {
    if (key == "dtype") {
      if (field.type != JsonValue::Type::kString) return bad("dtype is not a string");
      entry.dtype = field.text;
      has_dtype = true;
    } else if (key == "shape") {
      if (field.type != JsonValue::Type::kArray) return bad("shape is not an array");
      if (field.array.size() > 16) return bad("shape has more than 16 dimensions");
      for (const JsonValue& dim : field.array) {
        uint64_t d = 0;
        if (!ToCount(dim, d)) return bad("shape entries must be non-negative integers");
        entry.shape.push_back(static_cast<int64_t>(d));
      }
      has_shape = true;
    } else if (key == "data_offsets") {
      if (field.type != JsonValue::Type::kArray || field.array.size() != 2 ||
          !ToCount(field.array[0], entry.begin) || !ToCount(field.array[1], entry.end)) {
        return bad("data_offsets must be [begin, end] with non-negative integers");
      }
      has_offsets = true;
    }
    // Other fields are ignored, as the reference implementation does.
  }
  if (!has_dtype) return bad("missing dtype");
  if (!has_shape) return bad("missing shape");
  if (!has_offsets) return bad("missing data_offsets");
  const DtypeInfo* dtype = FindDtype(entry.dtype);
  if (dtype == nullptr) return bad(absl::StrCat("unsupported dtype '", entry.dtype, "'"));
  if (entry.begin > entry.end) {
    return bad(absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                            "] end before they begin"));
  }
  if (entry.end > data_size) {
    return bad(absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                            "] run past the data section (", data_size, " bytes)"));
  }
  // numel · element size, overflow-checked (data_size bounds any valid product).
  uint64_t bytes = dtype->bytes;
  if (std::find(entry.shape.begin(), entry.shape.end(), 0) != entry.shape.end()) {
    bytes = 0;
  } else {
    for (int64_t d : entry.shape) {
      const uint64_t ud = static_cast<uint64_t>(d);
      if (bytes > std::numeric_limits<uint64_t>::max() / ud) {  // would overflow
        bytes = std::numeric_limits<uint64_t>::max();
        break;
      }
      bytes *= ud;
    }
  }
  if (bytes != entry.end - entry.begin) {
    return bad(absl::StrCat("shape ", ShapeString(entry.shape), " of ", entry.dtype,
                            " needs ", bytes == std::numeric_limits<uint64_t>::max()
                                           ? std::string("too many")
                                           : std::to_string(bytes),
                            " bytes but data_offsets span ", entry.end - entry.begin));
  }
  return absl::OkStatus();
}

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

bool ReadFully(int fd, void* buffer, uint64_t size, uint64_t offset) {
  auto* p = static_cast<char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, std::min<uint64_t>(size, 1ull << 30), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

bool WriteFully(int fd, const void* buffer, uint64_t size) {
  const auto* p = static_cast<const char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, std::min<uint64_t>(size, 1ull << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

int64_t SafetensorsHeader::Find(const std::string& name) const {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].name == name) return static_cast<int64_t>(i);
  }
  return -1;
}

absl::StatusOr<torch::ScalarType> SafetensorsDtype(const std::string& dtype) {
  const DtypeInfo* info = FindDtype(dtype);
  if (info == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported dtype '", dtype, "'"));
  }
  return info->type;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view json,
                                                         uint64_t data_size) {
  auto doc = ParseJson(json);
  if (!doc.ok()) return Annotate(doc.status(), "header");
  if (doc->type != JsonValue::Type::kObject) {
    return absl::InvalidArgumentError(
        absl::StrCat("header must be a JSON object, got ", JsonTypeName(doc->type)));
  }
  SafetensorsHeader header;
  for (const auto& [key, value] : doc->object) {
    if (key == "__metadata__") {
      if (value.type != JsonValue::Type::kObject) {
        return absl::InvalidArgumentError("__metadata__ must be an object");
      }
      for (const auto& [meta_key, meta_value] : value.object) {
        if (meta_value.type != JsonValue::Type::kString) {
          return absl::InvalidArgumentError(
              absl::StrCat("__metadata__ value for '", meta_key, "' must be a string"));
        }
        header.metadata[meta_key] = meta_value.text;
      }
      continue;
    }
    if (key.empty()) return absl::InvalidArgumentError("empty tensor name in header");
    SafetensorsEntry entry;
    absl::Status status = ParseEntry(key, value, data_size, entry);
    if (!status.ok()) return status;
    header.entries.push_back(std::move(entry));
  }
  // No two tensors may share bytes.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : header.entries) {
    if (e.end > e.begin) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
              return a->begin < b->begin;
            });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensors '", by_offset[i - 1]->name, "' and '", by_offset[i]->name,
          "' overlap in the data section"));
    }
  }
  return header;
}

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    const std::string& path) {
  RIB_ASSIGN_OR_RETURN(InputFile file, OpenRegularFile(path, "safetensors file"));
  return Open(std::move(file));
}

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    InputFile file) {
  const std::string path = file.path();
  const int fd = file.fd();
  // No message below quotes the file's bytes, not even as a number: the first 8 bytes of
  // a file that is not safetensors would come back as a "header length".
  auto fail = [&](absl::Status status) {
    return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  };
  const uint64_t file_size = file.size();
  if (file_size < 8) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "file is ", file_size, " bytes, too short for a safetensors header length")));
  }
  unsigned char len_bytes[8];
  if (!ReadFully(fd, len_bytes, 8, 0)) {
    return fail(absl::InternalError("cannot read the header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "the header length (the first 8 bytes) exceeds the limit of ",
        kMaxSafetensorsHeaderBytes, " bytes: not a safetensors file")));
  }
  if (header_len > file_size - 8) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("the header length (the first 8 bytes) runs past the end of the file (",
                     file_size, " bytes): truncated or not safetensors")));
  }
  std::string json(header_len, '\0');
  if (!ReadFully(fd, json.data(), header_len, 8)) {
    return fail(absl::InternalError("cannot read the header"));
  }
  auto header = ParseSafetensorsHeader(json, file_size - 8 - header_len);
  if (!header.ok()) return fail(header.status());
  return std::unique_ptr<SafetensorsReader>(
      new SafetensorsReader(std::move(file), 8 + header_len, *std::move(header)));
}

absl::StatusOr<torch::Tensor> SafetensorsReader::Read(const SafetensorsEntry& entry) const {
  auto type = SafetensorsDtype(entry.dtype);
  if (!type.ok()) return type.status();
  torch::Tensor tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(*type));
  const uint64_t bytes = entry.end - entry.begin;
  if (bytes != static_cast<uint64_t>(tensor.nbytes())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": tensor '", entry.name, "' size does not match its shape"));
  }
  if (bytes > 0 && !ReadFully(file_.fd(), tensor.data_ptr(), bytes, data_offset_ + entry.begin)) {
    return absl::InternalError(
        absl::StrCat(path_, ": cannot read tensor '", entry.name, "' (file truncated?)"));
  }
  return tensor;
}

absl::StatusOr<NamedTensors> ReadSafetensors(const std::string& path,
                                             std::map<std::string, std::string>* metadata) {
  auto reader = SafetensorsReader::Open(path);
  if (!reader.ok()) return reader.status();
  NamedTensors out;
  for (const auto& entry : (*reader)->header().entries) {
    auto tensor = (*reader)->Read(entry);
    if (!tensor.ok()) return tensor.status();
    out.emplace_back(entry.name, *std::move(tensor));
  }
  if (metadata != nullptr) *metadata = (*reader)->header().metadata;
  return out;
}

absl::Status WriteSafetensors(const std::string& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> data;
  // Compact JSON, "__metadata__" first, then the tensors in the order given: the
  // format's header. WriteJson keeps members in the order they are set.
  JsonValue header = JsonValue::Object();
  if (!metadata.empty()) {
    JsonValue meta = JsonValue::Object();
    for (const auto& [k, v] : metadata) meta.Set(k, JsonValue::String(v));
    header.Set("__metadata__", std::move(meta));
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat("invalid tensor name '", name, "'"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name '", name, "'"));
    }
    const DtypeInfo* dtype = FindDtype(tensor.scalar_type());
    if (dtype == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' has dtype ", c10::toString(tensor.scalar_type()),
          ", which safetensors cannot store"));
    }
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(cpu.nbytes());
    JsonValue shape = JsonValue::Array();
    for (int64_t d : cpu.sizes()) shape.Append(JsonValue::Int(d));
    JsonValue entry = JsonValue::Object();
    entry.Set("dtype", JsonValue::String(dtype->name));
    entry.Set("shape", std::move(shape));
    entry.Set("data_offsets",
              JsonValue::Array({JsonValue::Int(static_cast<int64_t>(offset)),
                                JsonValue::Int(static_cast<int64_t>(offset + bytes))}));
    header.Set(name, std::move(entry));
    offset += bytes;
    data.push_back(std::move(cpu));
  }
  std::string json = WriteJson(header);
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer.
  while ((json.size() + 8) % 8 != 0) json.push_back(' ');

  // A per-writer temporary name (common/atomic_file.h): two attempts of one job may
  // publish the same weights file at once.
  const std::string tmp = UniqueTempPath(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  unsigned char len_bytes[8];
  uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  bool ok = WriteFully(fd, len_bytes, 8) && WriteFully(fd, json.data(), json.size());
  for (size_t i = 0; ok && i < data.size(); ++i) {
    ok = WriteFully(fd, data[i].data_ptr(), data[i].nbytes());
  }
  ok = ok && ::fsync(fd) == 0;
  if (!ok) {
    absl::Status status = ErrnoError("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  }
  if (::close(fd) != 0) {
    absl::Status status = ErrnoError("cannot write", tmp);
    ::unlink(tmp.c_str());
    return status;
  }
  absl::Status published = PublishTempFile(tmp, path);
  if (!published.ok()) ::unlink(tmp.c_str());  // no-op once renamed
  return published;
}

}  // namespace rib::engine
