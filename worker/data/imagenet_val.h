// Internal: ImageNet val as downloaded. Its photos are named ILSVRC2012_val_<8 digits>;
// ImageNet-C, -Cartoon and -Drawing are renderings of them under the same names, which
// is what lets the split keep every rendering of one photo on one side (split.cc). A
// flat imagenet/val (the files without class folders) takes its labels from Kaggle's
// LOC_val_solution.csv or from the devkit's ground truth plus an ID → wnid list (the
// file names are spec/data_layout.h's).
//
// Thread-safety: pure functions, except ReadFlatValLabels (reads files).
#ifndef RIB_WORKER_DATA_IMAGENET_VAL_H_
#define RIB_WORKER_DATA_IMAGENET_VAL_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rib::data::internal {

inline constexpr int64_t kImageNetValPhotos = 50000;

// The photo number (1..50000) of a file stem "ILSVRC2012_val_00000001", or -1 when the
// stem is not an ImageNet val photo's name.
int64_t ImageNetValPhotoNumber(absl::string_view stem);

struct FlatValLabels {
  // photo stem ("ILSVRC2012_val_00000001") → wnid
  absl::flat_hash_map<std::string, std::string> wnid_of;
  // The file the labels came from, relative to the data root (for messages and checks).
  std::string source;
};

// Reads the labels of a flat imagenet/val under `data_root`: kImageNetValSolutionCsv
// when present, else kImageNetValGroundTruth with kImageNetIdToWnid. NOT_FOUND naming
// the files when neither is there; FAILED_PRECONDITION naming the file and line for a
// malformed one (bad header, repeated image, ID outside 1..1000, a mapping that is not
// 1000 distinct wnids).
absl::StatusOr<FlatValLabels> ReadFlatValLabels(const std::string& data_root);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_IMAGENET_VAL_H_
