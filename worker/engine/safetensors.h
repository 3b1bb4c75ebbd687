// Reader and writer for the safetensors format (the format timm and the Hugging Face hub
// publish weights in):
//
//   [8-byte little-endian header length N][N bytes of JSON header][data section]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) plus an optional "__metadata__" object of
// string → string. Every header is parsed by a small strict JSON parser with bounds: a
// header longer than kMaxHeaderBytes or past the end of the file, malformed JSON,
// duplicate names, unknown dtypes, offsets outside the data section, offsets that do not
// match the shape, and overlapping tensors are INVALID_ARGUMENT errors that name the
// problem (and the tensor), never the file's bytes (the file may be anything a sweep
// named). I/O failures are NOT_FOUND (missing file), INVALID_ARGUMENT (not a regular
// file: a FIFO or a directory is refused at once) or INTERNAL.
//
// Thread-safety: SafetensorsReader is not thread-safe; the free functions are.
#ifndef RIB_WORKER_ENGINE_SAFETENSORS_H_
#define RIB_WORKER_ENGINE_SAFETENSORS_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/paths.h"
#include "absl/strings/string_view.h"

namespace rib::engine {

// 100 MB: far above any real header (ViT-L's is ~40 kB) and bounds what a hostile
// length field can make us allocate.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as spelled in the file: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets within the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in header order
  std::map<std::string, std::string> metadata;
  // Index of an entry by name, or -1.
  int64_t Find(const std::string& name) const;
};

// Parses and validates a header (the JSON text) for a data section of `data_size` bytes.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view json,
                                                         uint64_t data_size);

// The torch dtype that stores `dtype` ("F16" → kHalf ...); INVALID_ARGUMENT if unknown.
absl::StatusOr<torch::ScalarType> SafetensorsDtype(const std::string& dtype);

// Reads tensors one at a time with positional reads, so a model-sized file is never
// held in memory twice.
class SafetensorsReader {
 public:
  // Reads and validates the header. NOT_FOUND when the file does not exist.
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> Open(const std::string& path);
  // The same over a file already opened (OpenUnder: confined to a root).
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> Open(InputFile file);
  ~SafetensorsReader() = default;
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const SafetensorsHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  // The tensor as stored (its own dtype), on the CPU.
  absl::StatusOr<torch::Tensor> Read(const SafetensorsEntry& entry) const;

 private:
  SafetensorsReader(InputFile file, uint64_t data_offset, SafetensorsHeader header)
      : path_(file.path()), file_(std::move(file)), data_offset_(data_offset),
        header_(std::move(header)) {}
  std::string path_;
  InputFile file_;
  uint64_t data_offset_;
  SafetensorsHeader header_;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Every tensor of the file, in header order, in its stored dtype. `metadata` (optional)
// receives __metadata__.
absl::StatusOr<NamedTensors> ReadSafetensors(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// Writes the tensors in their own dtype (contiguous CPU copies) in the given order,
// atomically: a temporary file in the same folder, fsync, then rename. INVALID_ARGUMENT
// for an empty or duplicate name or an unsupported dtype.
absl::Status WriteSafetensors(const std::string& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_SAFETENSORS_H_
