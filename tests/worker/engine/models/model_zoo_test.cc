// Architectures: names, shapes and sizes follow timm / torchvision; forward shapes.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/model.h"
#include "worker/engine/vit.h"

namespace rib::engine {
namespace {

using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Big models are built once per test binary (initialising ViT-B takes seconds).
Classifier& Cached(const std::string& arch) {
  static auto* cache = new std::map<std::string, Classifier>();
  auto it = cache->find(arch);
  if (it == cache->end()) {
    torch::manual_seed(0);
    auto model = CreateModel(arch, 1000);
    EXPECT_TRUE(model.ok()) << model.status();
    it = cache->emplace(arch, *model).first;
  }
  return it->second;
}

int64_t CountParameters(const Classifier& model) {
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  return n;
}

std::map<std::string, std::vector<int64_t>> Shapes(const Classifier& model) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& item : model->named_parameters()) {
    out[item.key()] = item.value().sizes().vec();
  }
  for (const auto& item : model->named_buffers()) {
    out[item.key()] = item.value().sizes().vec();
  }
  return out;
}

TEST(ModelZooTest, ParameterCountsMatchPublishedModels) {
  torch::manual_seed(0);
  // timm / torchvision report these counts for the 1000-class models.
  const std::map<std::string, int64_t> expected = {
      {"vit_tiny_patch16_224", 5717416},   {"vit_small_patch16_224", 22050664},
      {"vit_base_patch16_224", 86567656},
      {"resnet18", 11689512},              {"resnet34", 21797672},
      {"resnet50", 25557032},              {"resnet101", 44549160},
  };
  for (const auto& [arch, count] : expected) {
    EXPECT_EQ(CountParameters(Cached(arch)), count) << arch;
  }
}

TEST(ModelZooTest, VitBaseHasTimmNamesAndShapes) {
  Classifier& model = Cached("vit_base_patch16_224");
  auto shapes = Shapes(model);
  EXPECT_THAT(shapes.at("patch_embed.proj.weight"), ElementsAre(768, 3, 16, 16));
  EXPECT_THAT(shapes.at("patch_embed.proj.bias"), ElementsAre(768));
  EXPECT_THAT(shapes.at("cls_token"), ElementsAre(1, 1, 768));
  EXPECT_THAT(shapes.at("pos_embed"), ElementsAre(1, 197, 768));
  EXPECT_THAT(shapes.at("blocks.0.norm1.weight"), ElementsAre(768));
  EXPECT_THAT(shapes.at("blocks.11.attn.qkv.weight"), ElementsAre(2304, 768));
  EXPECT_THAT(shapes.at("blocks.11.attn.qkv.bias"), ElementsAre(2304));
  EXPECT_THAT(shapes.at("blocks.11.attn.proj.weight"), ElementsAre(768, 768));
  EXPECT_THAT(shapes.at("blocks.11.norm2.bias"), ElementsAre(768));
  EXPECT_THAT(shapes.at("blocks.11.mlp.fc1.weight"), ElementsAre(3072, 768));
  EXPECT_THAT(shapes.at("blocks.11.mlp.fc2.weight"), ElementsAre(768, 3072));
  EXPECT_THAT(shapes.at("norm.weight"), ElementsAre(768));
  EXPECT_THAT(shapes.at("head.weight"), ElementsAre(1000, 768));
  EXPECT_EQ(shapes.count("blocks.12.norm1.weight"), 0u);
  EXPECT_EQ(shapes.count("norm_pre.weight"), 0u);
  // 4 + 12 · 12 + 2 + 2 tensors, as timm's state_dict.
  EXPECT_EQ(shapes.size(), 152u);
  EXPECT_THAT(model->HeadParameterNames(), ElementsAre("head.weight", "head.bias"));
  EXPECT_EQ(model->feature_dim(), 768);
  EXPECT_EQ(model->image_size(), 224);
}

TEST(ModelZooTest, ClipVariantHasPreNormAndNoPatchBias) {
  Classifier& model = Cached("vit_base_patch16_clip_224");
  auto shapes = Shapes(model);
  EXPECT_THAT(shapes.at("norm_pre.weight"), ElementsAre(768));
  EXPECT_THAT(shapes.at("norm_pre.bias"), ElementsAre(768));
  EXPECT_EQ(shapes.count("patch_embed.proj.bias"), 0u);
  EXPECT_EQ(CountParameters(model), 86567656 - 768 + 2 * 768);
}

TEST(ModelZooTest, MiilVariantHasNoQkvBias) {
  // timm's vit_base_patch16_224_miil (ImageNet-21K-P): qkv_bias=False, else ViT-B/16.
  Classifier& model = Cached("vit_base_patch16_224_miil.in21k_ft_in1k");
  auto shapes = Shapes(model);
  EXPECT_THAT(shapes.at("blocks.0.attn.qkv.weight"), ElementsAre(2304, 768));
  EXPECT_EQ(shapes.count("blocks.0.attn.qkv.bias"), 0u);
  EXPECT_THAT(shapes.at("patch_embed.proj.bias"), ElementsAre(768));
  EXPECT_EQ(shapes.count("norm_pre.weight"), 0u);
  EXPECT_EQ(CountParameters(model), 86567656 - 12 * 2304);
  EXPECT_EQ(model->image_size(), 224);
}

TEST(ModelZooTest, ResNet50HasTorchvisionNames) {
  Classifier& model = Cached("resnet50");
  auto shapes = Shapes(model);
  EXPECT_THAT(shapes.at("conv1.weight"), ElementsAre(64, 3, 7, 7));
  EXPECT_THAT(shapes.at("bn1.running_mean"), ElementsAre(64));
  EXPECT_THAT(shapes.at("layer1.0.conv3.weight"), ElementsAre(256, 64, 1, 1));
  EXPECT_THAT(shapes.at("layer1.0.downsample.0.weight"), ElementsAre(256, 64, 1, 1));
  EXPECT_THAT(shapes.at("layer1.0.downsample.1.num_batches_tracked"), ElementsAre());
  EXPECT_THAT(shapes.at("layer2.0.conv2.weight"), ElementsAre(128, 128, 3, 3));
  EXPECT_THAT(shapes.at("layer4.2.bn3.weight"), ElementsAre(2048));
  EXPECT_THAT(shapes.at("fc.weight"), ElementsAre(1000, 2048));
  EXPECT_EQ(shapes.count("layer1.1.downsample.0.weight"), 0u);
  // torchvision's resnet50 state_dict has 320 entries (161 parameters, 159 buffers).
  EXPECT_EQ(shapes.size(), 320u);
  EXPECT_THAT(model->HeadParameterNames(), ElementsAre("fc.weight", "fc.bias"));
  EXPECT_EQ(model->feature_dim(), 2048);
}

TEST(ModelZooTest, FmnistModelsRunOn32x32) {
  torch::manual_seed(0);
  for (const std::string arch : {"fmnist_vit", "fmnist_resnet"}) {
    RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel(arch, 10));
    EXPECT_EQ(model->image_size(), 32) << arch;
    EXPECT_EQ(model->num_classes(), 10) << arch;
    auto images = torch::randn({4, 3, 32, 32});
    auto features = model->Features(images);
    EXPECT_EQ(features.sizes(), (std::vector<int64_t>{4, model->feature_dim()})) << arch;
    auto logits = model->forward(images);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{4, 10})) << arch;
    EXPECT_TRUE(torch::allclose(logits, model->Head(features))) << arch;
    // A grayscale batch is the same as its channel replicated.
    auto gray = torch::randn({2, 1, 32, 32});
    EXPECT_TRUE(torch::allclose(model->forward(gray), model->forward(gray.repeat({1, 3, 1, 1})),
                                1e-5, 1e-6))
        << arch;
  }
}

TEST(ModelZooTest, ForwardIsBatchIndependentInEval) {
  torch::manual_seed(1);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_resnet", 10));
  model->eval();
  torch::NoGradGuard no_grad;
  auto images = torch::randn({6, 3, 32, 32});
  auto all = model->forward(images);
  auto one = model->forward(images.slice(0, 2, 3));
  EXPECT_TRUE(torch::allclose(all.slice(0, 2, 3), one, 1e-4, 1e-5));
}

// Evaluation's forward (Inference()) against the module forward on the same eval-mode
// model: batch statistics and affine maps are randomised so folding them is exercised.
void Randomise(Classifier& model) {
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) item.value().normal_(0.0, 0.1);
  for (auto& item : model->named_buffers()) {
    if (item.key().find("running_var") != std::string::npos)
      item.value().uniform_(0.5, 2.0);
    if (item.key().find("running_mean") != std::string::npos)
      item.value().normal_(0.0, 0.2);
  }
}

double InferenceGap(Classifier& model, const torch::Tensor& images) {
  model->eval();
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model->forward(images);
  }
  const ForwardFn inference = model->Inference();
  c10::InferenceMode inference_mode;
  torch::Tensor logits = inference(images);
  EXPECT_EQ(logits.sizes(), expected.sizes());
  return (logits - expected).abs().max().item<double>();
}

TEST(ModelZooTest, InferenceEqualsForwardInEval) {
  torch::manual_seed(2);
  for (const std::string arch : {"fmnist_vit", "fmnist_resnet"}) {
    RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel(arch, 10));
    Randomise(model);
    EXPECT_LT(InferenceGap(model, torch::randn({5, 3, 32, 32})), 1e-4) << arch;
    // Grayscale batches are replicated to three channels on this path too.
    EXPECT_LT(InferenceGap(model, torch::randn({3, 1, 32, 32})), 1e-4) << arch << " gray";
    EXPECT_LT(InferenceGap(model, torch::randn({1, 3, 32, 32})), 1e-4)
        << arch << " batch 1";
  }
}

TEST(ModelZooTest, InferenceCoversStemPoolBottleneckAndBiasFreeQkv) {
  torch::manual_seed(3);
  // ImageNet stem with max-pool and bottleneck blocks, at a small input.
  RIB_ASSERT_OK_AND_ASSIGN(Classifier resnet, CreateModel("resnet50", 10));
  Randomise(resnet);
  EXPECT_LT(InferenceGap(resnet, torch::randn({2, 3, 64, 64})), 1e-3);
  // A CLIP-style tower (norm_pre, eps 1e-5).
  RIB_ASSERT_OK_AND_ASSIGN(Classifier clip, CreateModel("vit_tiny_patch16_clip_224", 10));
  Randomise(clip);
  EXPECT_LT(InferenceGap(clip, torch::randn({2, 3, 224, 224})), 1e-4);
  // A ViT without qkv bias (the fused kernel is given a zero one).
  VitConfig config;
  config.image_size = 32;
  config.patch_size = 8;
  config.embed_dim = 64;
  config.depth = 2;
  config.num_heads = 4;
  config.qkv_bias = false;
  config.num_classes = 10;
  Classifier no_bias(
      std::shared_ptr<ClassifierImpl>(std::make_shared<VisionTransformerImpl>(config)));
  Randomise(no_bias);
  EXPECT_LT(InferenceGap(no_bias, torch::randn({3, 3, 32, 32})), 1e-4);
}

TEST(ModelZooTest, InferenceWithUnmergedLoraEqualsForward) {
  torch::manual_seed(4);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  ASSERT_THAT(model->EnableLora(4, 8.0), ::rib::testing::IsOk());
  Randomise(model);  // the adapters too, so they change the output
  auto images = torch::randn({4, 3, 32, 32});
  EXPECT_LT(InferenceGap(model, images), 1e-5);
  // And the adapters do count: merging them leaves the inference output where it was.
  torch::Tensor before;
  {
    c10::InferenceMode inference_mode;
    before = model->Inference()(images);
  }
  ASSERT_THAT(model->MergeLora(), ::rib::testing::IsOk());
  c10::InferenceMode inference_mode;
  EXPECT_LT((model->Inference()(images) - before).abs().max().item<double>(), 1e-4);
}

TEST(ModelZooTest, TimmPretrainedTagIsIgnored) {
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model,
                           CreateModel("vit_tiny_patch16_224.augreg_in21k_ft_in1k", 5));
  EXPECT_EQ(model->num_classes(), 5);
  EXPECT_EQ(model->feature_dim(), 192);
}

TEST(ModelZooTest, UnknownArchIsInvalidArgumentNamingIt) {
  EXPECT_THAT(CreateModel("resnet19", 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'resnet19'")));
  EXPECT_THAT(CreateModel("vit_giant_patch16_224", 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vit_giant")));
  EXPECT_THAT(CreateModel("vit_base_patch16_225", 10),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreateModel("fmnist_vit", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_classes")));
}

TEST(ModelZooTest, ResNetHasNoLora) {
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_resnet", 10));
  EXPECT_THAT(model->EnableLora(8, 1.0), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace rib::engine
