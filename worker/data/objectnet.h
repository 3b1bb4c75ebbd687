// Internal: ObjectNet 1.0's label mapping onto ImageNet-1K (DESIGN §4.1).
//
// "standard": each of the 113 folders whose ObjectNet label overlaps ImageNet-1K maps to
// every ImageNet class listed for that label (mappings/objectnet_to_imagenet_1k.json,
// resolved through imagenet_to_label_2012_v2 and pytorch_to_imagenet_2012_id.json);
// 125 classes in all. A prediction is right if it is any of them.
// "reference": the single class the FieteLab/ImageNet-RIB code assigns, reproducing its
// stale-variable bug for 8 folders (weight_scale, chair, trash_bin, swimming_trunks,
// skirt, jeans, binder_closed, iron_for_clothes get the previous folder's class). It
// needs the ImageNet "simple labels" list that code reads (imagenet_class.json or
// imagenet_class_clip_names.json in the mappings folder). For comparison with the paper
// only.
#ifndef RIB_WORKER_DATA_OBJECTNET_H_
#define RIB_WORKER_DATA_OBJECTNET_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rib::data::internal {

struct ObjectNetMapping {
  // Folders whose label overlaps ImageNet-1K → their ImageNet indices (sorted).
  std::map<std::string, std::vector<int64_t>> folder_classes;
  // Every folder ObjectNet knows (313), mapped or not.
  std::set<std::string> known_folders;
};

// FAILED_PRECONDITION naming the label when a listed ImageNet name cannot be resolved,
// NOT_FOUND when a mapping file is missing, INVALID_ARGUMENT for an unknown mode.
absl::StatusOr<ObjectNetMapping> LoadObjectNetMapping(const std::string& mappings_dir,
                                                      const std::string& mode);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_OBJECTNET_H_
