// Model-family preprocessing defaults (DESIGN §4.1). The sweep parser fills a model's
// unset preprocessing keys from here; rib-run and rib-pretrain use it for the models
// they build from flags.
//
// Thread-safety: a pure function; thread-safe.
#ifndef RIB_SPEC_PREPROCESSING_H_
#define RIB_SPEC_PREPROCESSING_H_

#include "absl/strings/string_view.h"
#include "spec/job_spec.h"

namespace rib::spec {

// By arch family: fmnist_* 32 px, crop 1.0, mean = std = 0.5; CLIP-derived (arch
// contains "clip") crop 1.0 with CLIP's mean/std; torchvision ResNet (arch starts with
// "resnet") crop 0.875 (256 → 224) with ImageNet mean/std; otherwise timm ViT: crop
// 0.9, mean = std = 0.5. Always bicubic. image_size is 224 unless the arch names
// another size ("..._384").
Preprocessing DefaultPreprocessing(absl::string_view arch);

}  // namespace rib::spec

#endif  // RIB_SPEC_PREPROCESSING_H_
