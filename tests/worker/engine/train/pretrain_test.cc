// Pre-training of the embedded suite's models: cached by config hash, deterministic
// augmentation.
#include "worker/engine/pretrain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;

PretrainRecipe Tiny() {
  PretrainRecipe recipe;
  recipe.name = "tiny";
  recipe.train_examples = 64;
  recipe.batch_size = 32;
  recipe.epochs = 1;
  recipe.warmup_steps = 1;
  return recipe;
}

TEST(PretrainTest, TrainsOnceThenUsesTheCache) {
  ScratchDir out;
  PretrainOptions options;
  options.data_root = ::rib::testing::CachedDataRoot();
  options.out_dir = out.path();
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PretrainOutcome> first, Pretrain({Tiny()}, options, nullptr));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(first[0].cached);
  EXPECT_TRUE(std::filesystem::exists(out.Join("tiny.safetensors")));
  EXPECT_EQ(first[0].val_total, 2000);

  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PretrainOutcome> second, Pretrain({Tiny()}, options, nullptr));
  EXPECT_TRUE(second[0].cached);
  EXPECT_EQ(second[0].val_correct, first[0].val_correct);

  // Another recipe under the same name is retrained.
  PretrainRecipe changed = Tiny();
  changed.lr = 0.01;
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PretrainOutcome> third, Pretrain({changed}, options, nullptr));
  EXPECT_FALSE(third[0].cached);
}

TEST(PretrainTest, ConfigTextCoversTheRecipeAndTheSuite) {
  PretrainRecipe a = Tiny(), b = Tiny();
  b.augment = "heavy";
  EXPECT_NE(PretrainConfigText(a, "s1"), PretrainConfigText(b, "s1"));
  EXPECT_NE(PretrainConfigText(a, "s1"), PretrainConfigText(a, "s2"));
  PretrainRecipe c = Tiny();
  c.optimizer = "adamw";
  EXPECT_NE(PretrainConfigText(a, "s1"), PretrainConfigText(c, "s1"));
  EXPECT_EQ(PretrainConfigText(a, "s1"), PretrainConfigText(Tiny(), "s1"));
}

TEST(PretrainTest, HeavyAugmentIsSeededAndKeepsShape) {
  torch::manual_seed(0);
  torch::Tensor images = torch::rand({6, 3, 32, 32}) * 2 - 1;
  torch::Tensor a = HeavyAugment(images, 5);
  torch::Tensor b = HeavyAugment(images, 5);
  torch::Tensor c = HeavyAugment(images, 6);
  EXPECT_EQ(a.sizes(), images.sizes());
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_FALSE(torch::equal(a, images));
  EXPECT_LE(a.abs().max().item<float>(), 1.0f);
}

TEST(PretrainTest, MixedAugmentKeepsAboutHalfTheImagesClean) {
  torch::manual_seed(0);
  torch::Tensor images = torch::rand({200, 3, 32, 32}) * 2 - 1;
  torch::Tensor a = MixedAugment(images, 5);
  EXPECT_TRUE(torch::equal(a, MixedAugment(images, 5)));
  EXPECT_FALSE(torch::equal(a, MixedAugment(images, 6)));
  const torch::Tensor heavy = HeavyAugment(images, 5);
  int64_t clean = 0, augmented = 0;
  for (int64_t i = 0; i < images.size(0); ++i) {
    if (torch::equal(a[i], images[i])) ++clean;
    if (torch::equal(a[i], heavy[i])) ++augmented;
  }
  // Each image is either untouched or exactly HeavyAugment's; a fair coin over 200
  // images gives 100 ± 7 (sd) clean, so [70, 130] fails by chance with p < 3e-5.
  EXPECT_EQ(clean + augmented, images.size(0));
  EXPECT_GE(clean, 70);
  EXPECT_LE(clean, 130);
}

TEST(PretrainTest, AnUnknownAugmentIsRefusedByName) {
  ScratchDir out;
  PretrainOptions options;
  options.data_root = ::rib::testing::CachedDataRoot();
  options.out_dir = out.path();
  PretrainRecipe bad = Tiny();
  bad.augment = "medium";
  EXPECT_THAT(Pretrain({bad}, options, nullptr).status(),
              ::rib::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                       ::testing::HasSubstr("unknown augment 'medium' "
                                                            "(expected none, heavy or mixed)")));
}

TEST(PretrainTest, DefaultRecipesArePlainAndRich) {
  std::vector<PretrainRecipe> recipes = DefaultPretrainRecipes();
  ASSERT_EQ(recipes.size(), 3u);
  EXPECT_EQ(recipes[0].augment, "none");
  EXPECT_EQ(recipes[1].augment, "mixed");
  EXPECT_EQ(recipes[0].arch, recipes[1].arch);  // the pair differs only in its recipe
  EXPECT_EQ(recipes[2].arch, "fmnist_vit");     // for lora, which needs attention
  EXPECT_GT(recipes[1].epochs * recipes[1].train_examples,
            recipes[0].epochs * recipes[0].train_examples);
}

}  // namespace
}  // namespace rib::engine
