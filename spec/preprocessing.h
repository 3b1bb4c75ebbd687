// Model preprocessing defaults (DESIGN §4.1): one table of the published weight
// families, keyed by the timm name "<arch>.<tag>", and the arch-family rules for a
// model named without a tag. The sweep parser fills a model's unset preprocessing keys
// from here; a hub model's config.json (spec/hf_hub.h) wins over it; rib-run and
// rib-pretrain use it for the models they build from flags.
//
// Thread-safety: pure functions over a constant table; thread-safe.
#ifndef RIB_SPEC_PREPROCESSING_H_
#define RIB_SPEC_PREPROCESSING_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "spec/job_spec.h"

namespace rib::spec {

// One published weight: its timm name and the evaluation preprocessing of its
// pretrained_cfg (input size, crop_pct, interpolation, mean, std; test_input_size /
// test_crop_pct where timm gives them) and num_classes.
struct PublishedWeights {
  std::string timm_name;  // "vit_base_patch16_clip_224.openai_ft_in1k"
  Preprocessing preprocessing;
  int num_classes = 1000;
};

// The table, in timm's order per family. Values are timm's (huggingface/
// pytorch-image-models, timm/models/vision_transformer.py and resnet.py default_cfgs);
// tests/spec/preprocessing_test.cc checks each against a copy of those values.
const std::vector<PublishedWeights>& PublishedWeightsTable();

// The entry for `timm_name` ("<arch>.<tag>"), or nullptr when it is not in the table.
const PublishedWeights* FindPublishedWeights(absl::string_view timm_name);

// The preprocessing of `arch`. An arch that carries a timm tag in the table
// ("vit_base_patch16_clip_224.openai_ft_in1k") gets the table's entry. Otherwise by
// family (the tag, if any, unknown): fmnist_* 32 px, crop 1.0, mean = std = 0.5;
// CLIP-derived (arch contains "clip") crop 1.0, bicubic, CLIP's mean/std (untagged
// CLIP keeps the crop it always had: name the tag to get the checkpoint's own);
// torchvision ResNet (arch starts with "resnet"): torchvision's V1 evaluation, resize
// 256 bilinear → crop 224 (crop 0.875), ImageNet mean/std; otherwise timm ViT: crop
// 0.9, bicubic, mean = std = 0.5. image_size is 224 unless the arch names another size
// ("..._384").
Preprocessing DefaultPreprocessing(absl::string_view arch);

}  // namespace rib::spec

#endif  // RIB_SPEC_PREPROCESSING_H_
