// The published weights table (spec/preprocessing.h) against timm's own pretrained_cfg
// values, copied from timm's source into tests/spec/testdata/timm_pretrained_cfgs.txt
// (the file says from which commit and how), and the family defaults for untagged archs.
#include "spec/preprocessing.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace rib::spec {
namespace {

using ::testing::ElementsAre;
using ::testing::DoubleEq;

struct TimmCfg {
  std::string name, interpolation, crop_mode;
  int image_size = 0, num_classes = 0;
  double crop_pct = 0;
  std::vector<double> mean, std;
};

std::vector<double> Numbers(const std::string& csv) {
  std::vector<double> out;
  for (absl::string_view part : absl::StrSplit(csv, ',')) {
    double v = 0;
    EXPECT_TRUE(absl::SimpleAtod(part, &v)) << csv;
    out.push_back(v);
  }
  return out;
}

std::vector<TimmCfg> ReadTimmCfgs() {
  std::ifstream in(testing::SourceDir() + "/tests/spec/testdata/timm_pretrained_cfgs.txt");
  std::vector<TimmCfg> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    TimmCfg c;
    std::string mean, std;
    fields >> c.name >> c.image_size >> c.crop_pct >> c.interpolation >> c.crop_mode >>
        c.num_classes >> mean >> std;
    EXPECT_FALSE(fields.fail()) << line;
    c.mean = Numbers(mean);
    c.std = Numbers(std);
    out.push_back(c);
  }
  return out;
}

TEST(PublishedWeights, EveryEntryIsTimmsPretrainedCfg) {
  const std::vector<TimmCfg> timm = ReadTimmCfgs();
  ASSERT_EQ(timm.size(), PublishedWeightsTable().size());
  std::set<std::string> seen;
  for (const TimmCfg& c : timm) {
    SCOPED_TRACE(c.name);
    const PublishedWeights* w = FindPublishedWeights(c.name);
    ASSERT_NE(w, nullptr);
    seen.insert(c.name);
    // The table's numbers are timm's decimal literals: exact.
    EXPECT_EQ(w->preprocessing.image_size, c.image_size);
    EXPECT_DOUBLE_EQ(w->preprocessing.crop_pct, c.crop_pct);
    EXPECT_EQ(w->preprocessing.interpolation, c.interpolation);
    EXPECT_EQ(c.crop_mode, "center");  // the only mode rib implements
    EXPECT_EQ(w->num_classes, c.num_classes);
    ASSERT_EQ(w->preprocessing.mean.size(), 3u);
    ASSERT_EQ(w->preprocessing.std.size(), 3u);
    for (int k = 0; k < 3; ++k) {
      EXPECT_DOUBLE_EQ(w->preprocessing.mean[k], c.mean[k]);
      EXPECT_DOUBLE_EQ(w->preprocessing.std[k], c.std[k]);
    }
    // The tagged arch gets exactly the entry.
    const Preprocessing p = DefaultPreprocessing(c.name);
    EXPECT_DOUBLE_EQ(p.crop_pct, c.crop_pct);
    EXPECT_EQ(p.interpolation, c.interpolation);
  }
  EXPECT_EQ(seen.size(), timm.size());  // no name twice
}

TEST(PublishedWeights, ClipCropsDifferPerCheckpoint) {
  // The values that were wrong when every CLIP model got crop 1.0.
  EXPECT_DOUBLE_EQ(DefaultPreprocessing("vit_base_patch16_clip_224.openai_ft_in1k").crop_pct,
                   0.9);
  EXPECT_DOUBLE_EQ(
      DefaultPreprocessing("vit_base_patch16_clip_224.laion2b_ft_in12k_in1k").crop_pct,
      0.95);
  EXPECT_DOUBLE_EQ(DefaultPreprocessing("vit_base_patch16_clip_224.laion2b_ft_in1k").crop_pct,
                   1.0);
}

TEST(FamilyDefaults, TorchvisionResnetIsBilinear256To224) {
  for (const char* arch : {"resnet18", "resnet50", "resnet101.tv_in1k"}) {
    const Preprocessing p = DefaultPreprocessing(arch);
    EXPECT_EQ(p.interpolation, "bilinear") << arch;
    EXPECT_EQ(p.image_size, 224);
    EXPECT_DOUBLE_EQ(p.crop_pct, 0.875);  // 224 / 256
    EXPECT_THAT(p.mean, ElementsAre(DoubleEq(0.485), DoubleEq(0.456), DoubleEq(0.406)));
  }
  // V2 weights: torchvision's resize 232 (floor(224 / 0.965) = 232).
  EXPECT_DOUBLE_EQ(DefaultPreprocessing("resnet50.tv2_in1k").crop_pct, 0.965);
}

TEST(FamilyDefaults, UntaggedAndUnknownTagsFallBackOnTheFamily) {
  // Untagged archs keep the values (and so the job hashes) they always had.
  const Preprocessing vit = DefaultPreprocessing("vit_base_patch16_224");
  EXPECT_DOUBLE_EQ(vit.crop_pct, 0.9);
  EXPECT_EQ(vit.interpolation, "bicubic");
  EXPECT_THAT(vit.mean, ElementsAre(0.5, 0.5, 0.5));
  EXPECT_DOUBLE_EQ(DefaultPreprocessing("vit_base_patch16_clip_224").crop_pct, 1.0);
  // A tag not in the table: the family's values, as for the bare arch.
  const Preprocessing unknown = DefaultPreprocessing("vit_base_patch16_clip_224.no_such_tag");
  EXPECT_DOUBLE_EQ(unknown.crop_pct, 1.0);
  EXPECT_DOUBLE_EQ(unknown.mean[0], 0.48145466);
  EXPECT_EQ(DefaultPreprocessing("vit_base_patch16_384").image_size, 384);
  const Preprocessing fmnist = DefaultPreprocessing("fmnist_vit");
  EXPECT_EQ(fmnist.image_size, 32);
  EXPECT_DOUBLE_EQ(fmnist.crop_pct, 1.0);
  // MIIL's ImageNet-21K-P ViT: mean 0, std 1, bilinear, crop 0.875, tagged or not.
  const Preprocessing miil = DefaultPreprocessing("vit_base_patch16_224_miil");
  EXPECT_THAT(miil.mean, ElementsAre(0.0, 0.0, 0.0));
  EXPECT_THAT(miil.std, ElementsAre(1.0, 1.0, 1.0));
  EXPECT_EQ(miil.interpolation, "bilinear");
  EXPECT_EQ(miil.image_size, 224);
}

}  // namespace
}  // namespace rib::spec
