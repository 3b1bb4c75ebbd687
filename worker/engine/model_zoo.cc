// CreateModel: the table of architectures by name.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "worker/engine/model.h"
#include "worker/engine/resnet.h"
#include "worker/engine/vit.h"

namespace rib::engine {
namespace {

struct VitSize {
  int64_t embed_dim, depth, num_heads;
};

const std::map<std::string, VitSize>& VitSizes() {
  static const auto* sizes = new std::map<std::string, VitSize>{
      {"tiny", {192, 12, 3}},
      {"small", {384, 12, 6}},
      {"base", {768, 12, 12}},
      {"large", {1024, 24, 16}},
      {"huge", {1280, 32, 16}},
  };
  return *sizes;
}

// vit_<size>_patch<P>[_clip]_<S>[_miil], as timm names them.
std::optional<VitConfig> ParseVitName(const std::string& arch) {
  std::vector<std::string> parts = absl::StrSplit(arch, '_');
  // timm's vit_base_patch16_224_miil (ImageNet-21K-P): a plain ViT without qkv bias.
  const bool miil = parts.size() == 5 && parts.back() == "miil";
  if (miil) parts.pop_back();
  if (parts.size() < 4 || parts.size() > 5 || parts[0] != "vit") return std::nullopt;
  auto size = VitSizes().find(parts[1]);
  if (size == VitSizes().end()) return std::nullopt;
  absl::string_view patch_part = parts[2];
  int64_t patch = 0, image = 0;
  if (!absl::ConsumePrefix(&patch_part, "patch") || !absl::SimpleAtoi(patch_part, &patch) ||
      !absl::SimpleAtoi(parts.back(), &image) || patch <= 0 || image <= 0 ||
      image % patch != 0) {
    return std::nullopt;
  }
  bool clip = false;
  if (parts.size() == 5) {
    if (parts[3] != "clip") return std::nullopt;
    clip = true;
  }
  VitConfig config;
  config.image_size = image;
  config.patch_size = patch;
  config.embed_dim = size->second.embed_dim;
  config.depth = size->second.depth;
  config.num_heads = size->second.num_heads;
  config.qkv_bias = !miil;
  if (clip) {
    // timm vit_*_clip_*: pre_norm=True, norm_layer=nn.LayerNorm (eps 1e-5).
    config.pre_norm = true;
    config.norm_eps = 1e-5;
  }
  return config;
}

VitConfig FmnistVit() {
  VitConfig config;
  config.image_size = 32;
  config.patch_size = 4;
  config.embed_dim = 96;
  config.depth = 4;
  config.num_heads = 3;
  return config;
}

ResNetConfig TorchvisionResNet(bool bottleneck, std::vector<int64_t> layers) {
  ResNetConfig config;
  config.bottleneck = bottleneck;
  config.layers = std::move(layers);
  return config;
}

// A ResNet-18 shape at a quarter of the width, with a 3×3 stride-1 stem for 32×32.
ResNetConfig FmnistResNet() {
  ResNetConfig config;
  config.layers = {2, 2, 2, 2};
  config.widths = {16, 32, 64, 128};
  config.stem_width = 16;
  config.small_stem = true;
  config.image_size = 32;
  return config;
}

const std::map<std::string, ResNetConfig>& ResNets() {
  static const auto* table = new std::map<std::string, ResNetConfig>{
      {"resnet18", TorchvisionResNet(false, {2, 2, 2, 2})},
      {"resnet34", TorchvisionResNet(false, {3, 4, 6, 3})},
      {"resnet50", TorchvisionResNet(true, {3, 4, 6, 3})},
      {"resnet101", TorchvisionResNet(true, {3, 4, 23, 3})},
      {"fmnist_resnet", FmnistResNet()},
  };
  return *table;
}

}  // namespace

ForwardFn ClassifierImpl::Inference() {
  auto self = std::static_pointer_cast<ClassifierImpl>(shared_from_this());
  return [self](const torch::Tensor& images) { return self->forward(images); };
}

std::vector<std::string> KnownArchs() {
  return {"fmnist_vit",
          "fmnist_resnet",
          "vit_tiny_patch16_224",
          "vit_small_patch16_224",
          "vit_small_patch32_224",
          "vit_base_patch16_224",
          "vit_base_patch32_224",
          "vit_base_patch16_224_miil",
          "vit_large_patch16_224",
          "vit_large_patch32_224",
          "vit_base_patch16_clip_224",
          "vit_base_patch32_clip_224",
          "vit_large_patch14_clip_224",
          "resnet18",
          "resnet34",
          "resnet50",
          "resnet101"};
}

absl::StatusOr<Classifier> CreateModel(const std::string& arch, int64_t num_classes) {
  if (num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes must be >= 1 for arch '", arch, "', got ", num_classes));
  }
  // Drop a timm pretrained tag: "vit_base_patch16_224.augreg2_in21k_ft_in1k".
  const std::string name = arch.substr(0, arch.find('.'));
  if (name == "fmnist_vit") {
    VitConfig config = FmnistVit();
    config.num_classes = num_classes;
    return Classifier(std::shared_ptr<ClassifierImpl>(
        std::make_shared<VisionTransformerImpl>(config)));
  }
  if (auto vit = ParseVitName(name)) {
    vit->num_classes = num_classes;
    return Classifier(std::shared_ptr<ClassifierImpl>(
        std::make_shared<VisionTransformerImpl>(*vit)));
  }
  auto resnet = ResNets().find(name);
  if (resnet != ResNets().end()) {
    ResNetConfig config = resnet->second;
    config.num_classes = num_classes;
    return Classifier(std::shared_ptr<ClassifierImpl>(
        std::make_shared<ResNetImpl>(config)));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown model arch '", arch,
                                                 "'; known: ", absl::StrJoin(KnownArchs(), ", ")));
}

}  // namespace rib::engine
