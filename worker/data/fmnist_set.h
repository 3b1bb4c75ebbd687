// Internal: the on-disk form of one FMNIST-RIB dataset (<key>.bin), shared by the
// generator (fmnist_rib.cc) and the DatasetSource that reads it (fmnist_source.cc).
//
// Format (little-endian): "RIBFMN01", int64 n, h, w, c, num_model_classes,
// int64 num_labels then per label {string name, int64 k, k × int64 accepted},
// int64 s then s × int64 class_subset, int64 m then m × string subset names,
// then per example {int64 label, int32 subset (-1 = none), int64 source (-1 = none)},
// then n*h*w*c pixel bytes (HWC). Strings are int32 length + bytes.
#ifndef RIB_WORKER_DATA_FMNIST_SET_H_
#define RIB_WORKER_DATA_FMNIST_SET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/dataset.h"

namespace rib::data::internal {

struct FmnistSet {
  int64_t h = 32, w = 32, c = 3;
  LabelSpace labels;
  std::vector<std::string> subset_names;
  std::vector<int64_t> label;
  std::vector<int32_t> subset;
  std::vector<int64_t> source;
  std::vector<uint8_t> pixels;

  int64_t size() const { return static_cast<int64_t>(label.size()); }
  int64_t image_bytes() const { return h * w * c; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
};

absl::Status WriteFmnistSet(const std::string& path, const FmnistSet& set);
absl::StatusOr<FmnistSet> ReadFmnistSet(const std::string& path);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_FMNIST_SET_H_
