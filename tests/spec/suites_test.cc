// The suite and dataset catalog.
#include "spec/suites.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rib::spec {
namespace {

using ::testing::ElementsAre;

TEST(Suites, FmnistRibKeysInBuildOrder) {
  EXPECT_THAT(KnownSuites(), ElementsAre("fmnist-rib", "imagenet-rib"));
  EXPECT_THAT(SuiteDatasetKeys("fmnist-rib"),
              ElementsAre("fmnist-train", "fmnist-val", "fmnist-v2", "fmnist-a",
                          "fmnist-r", "fmnist-sketch", "fmnist-objectnet",
                          "fmnist-cartoon", "fmnist-drawing", "fmnist-c"));
  EXPECT_EQ(SuiteTrainDataset("fmnist-rib"), "fmnist-train");
  EXPECT_EQ(SuitePretrainDataset("fmnist-rib"), "fmnist-val");
  EXPECT_EQ(SuiteDefaultNumClasses("fmnist-rib"), 10);
}

TEST(Suites, ImagenetRibColumnsInTheMatrixOrder) {
  EXPECT_THAT(SuiteEvalDatasets("imagenet-rib"),
              ElementsAre("imagenet-val", "imagenet-v2", "imagenet-a", "imagenet-r",
                          "imagenet-sketch", "objectnet", "imagenet-cartoon",
                          "imagenet-drawing", "imagenet-c"));
  EXPECT_EQ(SuiteTrainDataset("imagenet-rib"), "");
  EXPECT_EQ(SuiteDefaultNumClasses("imagenet-rib"), 1000);
}

TEST(Suites, EveryKeyBelongsToExactlyOneSuite) {
  std::set<std::string> seen;
  for (const std::string& key : AllDatasetKeys()) {
    EXPECT_TRUE(seen.insert(key).second) << key;
    EXPECT_TRUE(IsDatasetKey(key)) << key;
    EXPECT_TRUE(IsSuite(DatasetSuite(key))) << key;
  }
  EXPECT_EQ(seen.size(), 20u);  // 9 + 1 (imagenet-c-extra) + 10 FMNIST-RIB keys
  // ImageNet-C's 4 extra corruptions open by key but are no column of the matrix.
  EXPECT_EQ(DatasetSuite("imagenet-c-extra"), "imagenet-rib");
  EXPECT_THAT(SuiteEvalDatasets("imagenet-rib"),
              ::testing::Not(::testing::Contains("imagenet-c-extra")));
  EXPECT_FALSE(IsDatasetKey("fmnist-train2"));
  EXPECT_EQ(DatasetSuite("objectnet"), "imagenet-rib");
  EXPECT_TRUE(SuiteEvalDatasets("cifar-rib").empty());
  EXPECT_EQ(SuitePretrainDataset("cifar-rib"), "");
}

}  // namespace
}  // namespace rib::spec
