// The ImageNet-1K class list built into rib: the 1000 wnids in class-index order (the
// sorted order torchvision and timm use; timm/data/_info/imagenet_synsets.txt, blob
// 88aa58f9), compiled in from worker/data/imagenet_1k_wnids.txt. A data root that holds
// only imagenet-r/ (or any one dataset) is labelled with it; DatasetOptions's
// class_list_file overrides it.
//
// Thread-safety: immutable data, safe from any thread.
#ifndef RIB_WORKER_DATA_IMAGENET_CLASSES_H_
#define RIB_WORKER_DATA_IMAGENET_CLASSES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rib::data {

inline constexpr int kImageNetClasses = 1000;

// Line i = the wnid of class i ("n01440764" ... "n15075141").
const std::vector<std::string>& ImageNet1kWnids();

// The class index of `wnid`, or -1 when it is not an ImageNet-1K class.
int64_t ImageNet1kIndex(absl::string_view wnid);

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_IMAGENET_CLASSES_H_
