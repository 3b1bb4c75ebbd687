#include "spec/preprocessing.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace rib::spec {
namespace {

// timm/data/constants.py.
const std::vector<double> kInceptionMean = {0.5, 0.5, 0.5};
const std::vector<double> kInceptionStd = {0.5, 0.5, 0.5};
const std::vector<double> kImagenetMean = {0.485, 0.456, 0.406};
const std::vector<double> kImagenetStd = {0.229, 0.224, 0.225};
const std::vector<double> kClipMean = {0.48145466, 0.4578275, 0.40821073};
const std::vector<double> kClipStd = {0.26862954, 0.26130258, 0.27577711};

PublishedWeights Entry(const char* name, double crop_pct, const char* interpolation,
                       const std::vector<double>& mean, const std::vector<double>& std) {
  PublishedWeights w;
  w.timm_name = name;
  w.preprocessing.image_size = 224;
  w.preprocessing.crop_pct = crop_pct;
  w.preprocessing.interpolation = interpolation;
  w.preprocessing.mean = mean;
  w.preprocessing.std = std;
  return w;
}

}  // namespace

const std::vector<PublishedWeights>& PublishedWeightsTable() {
  // From timm (huggingface/pytorch-image-models at aa4b585), default_cfgs:
  // vision_transformer.py's _cfg defaults are crop 0.9, bicubic, Inception mean/std
  // (0.5); resnet.py's are crop 0.875, bilinear, ImageNet mean/std. torchvision's V2
  // ResNet weights (tv2_in1k) are evaluated at test_input_size 224, test_crop_pct 0.965
  // (torchvision's own resize 232 → crop 224).
  // timm's ViT defaults, CLIP's mean/std with a crop per checkpoint, torchvision's.
  auto vit = [](const char* name) {
    return Entry(name, 0.9, "bicubic", kInceptionMean, kInceptionStd);
  };
  auto clip = [](const char* name, double crop_pct) {
    return Entry(name, crop_pct, "bicubic", kClipMean, kClipStd);
  };
  auto torchvision = [](const char* name, double crop_pct) {
    return Entry(name, crop_pct, "bilinear", kImagenetMean, kImagenetStd);
  };
  static const auto* table = new std::vector<PublishedWeights>{
      // How to train your ViT (AugReg) and the original ViT weights.
      vit("vit_small_patch16_224.augreg_in21k_ft_in1k"),
      vit("vit_base_patch16_224.augreg2_in21k_ft_in1k"),
      vit("vit_base_patch16_224.augreg_in21k_ft_in1k"),
      vit("vit_base_patch16_224.orig_in21k_ft_in1k"),
      vit("vit_base_patch16_224.augreg_in1k"),
      // SAM-optimised ViT (Chen et al. 2021).
      vit("vit_base_patch16_224.sam_in1k"),
      // ImageNet-21K-P (Alibaba MIIL): no qkv bias, inputs unnormalised.
      Entry("vit_base_patch16_224_miil.in21k_ft_in1k", 0.875, "bilinear", {0, 0, 0},
            {1, 1, 1}),
      // CLIP towers fine-tuned on ImageNet: the crop differs per checkpoint.
      clip("vit_base_patch16_clip_224.laion2b_ft_in12k_in1k", 0.95),
      clip("vit_base_patch16_clip_224.laion2b_ft_in1k", 1.0),
      clip("vit_base_patch16_clip_224.openai_ft_in1k", 0.9),
      // torchvision's ResNets as timm republishes them (origin_url pytorch/vision).
      torchvision("resnet18.tv_in1k", 0.875),
      torchvision("resnet34.tv_in1k", 0.875),
      torchvision("resnet50.tv_in1k", 0.875),
      torchvision("resnet50.tv2_in1k", 0.965),
      torchvision("resnet101.tv_in1k", 0.875),
      torchvision("resnet101.tv2_in1k", 0.965),
  };
  return *table;
}

const PublishedWeights* FindPublishedWeights(absl::string_view timm_name) {
  for (const PublishedWeights& w : PublishedWeightsTable()) {
    if (w.timm_name == timm_name) return &w;
  }
  return nullptr;
}

Preprocessing DefaultPreprocessing(absl::string_view arch) {
  if (const PublishedWeights* w = FindPublishedWeights(arch)) return w->preprocessing;
  // An unknown tag falls back on the family of the arch before the dot.
  arch = arch.substr(0, arch.find('.'));
  Preprocessing p;
  p.interpolation = "bicubic";
  if (absl::StartsWith(arch, "fmnist_")) {
    p.image_size = 32;
    p.crop_pct = 1.0;
    p.mean = kInceptionMean;
    p.std = kInceptionStd;
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
    p.mean = kClipMean;
    p.std = kClipStd;
  } else if (absl::StartsWith(arch, "resnet")) {
    // torchvision's Resize default is bilinear (ResNet V1 weights: 256 → 224).
    p.interpolation = "bilinear";
    p.crop_pct = 0.875;
    p.mean = kImagenetMean;
    p.std = kImagenetStd;
  } else if (absl::EndsWith(arch, "_miil")) {
    const PublishedWeights* miil =
        FindPublishedWeights("vit_base_patch16_224_miil.in21k_ft_in1k");
    p.crop_pct = miil->preprocessing.crop_pct;
    p.interpolation = miil->preprocessing.interpolation;
    p.mean = miil->preprocessing.mean;
    p.std = miil->preprocessing.std;
  } else {
    p.crop_pct = 0.9;
    p.mean = kInceptionMean;
    p.std = kInceptionStd;
  }
  return p;
}

}  // namespace rib::spec
