#include "spec/preprocessing.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace rib::spec {

Preprocessing DefaultPreprocessing(absl::string_view arch) {
  Preprocessing p;
  p.interpolation = "bicubic";
  if (absl::StartsWith(arch, "fmnist_")) {
    p.image_size = 32;
    p.crop_pct = 1.0;
    p.mean = {0.5, 0.5, 0.5};
    p.std = {0.5, 0.5, 0.5};
    return p;
  }
  // An explicit size in the name ("vit_base_patch16_384", "..._clip_336") wins.
  p.image_size = 224;
  for (size_t pos = arch.find('_'); pos != absl::string_view::npos;
       pos = arch.find('_', pos + 1)) {
    size_t end = pos + 1;
    while (end < arch.size() && absl::ascii_isdigit(arch[end])) ++end;
    const absl::string_view digits = arch.substr(pos + 1, end - pos - 1);
    int size = 0;
    if (digits.size() == 3 && (end == arch.size() || !absl::ascii_isalnum(arch[end])) &&
        absl::SimpleAtoi(digits, &size) && size >= 100) {
      p.image_size = size;
    }
  }
  if (absl::StrContains(arch, "clip")) {
    p.crop_pct = 1.0;
    p.mean = {0.48145466, 0.4578275, 0.40821073};
    p.std = {0.26862954, 0.26130258, 0.27577711};
  } else if (absl::StartsWith(arch, "resnet")) {
    p.crop_pct = 0.875;
    p.mean = {0.485, 0.456, 0.406};
    p.std = {0.229, 0.224, 0.225};
  } else {
    p.crop_pct = 0.9;
    p.mean = {0.5, 0.5, 0.5};
    p.std = {0.5, 0.5, 0.5};
  }
  return p;
}

}  // namespace rib::spec
