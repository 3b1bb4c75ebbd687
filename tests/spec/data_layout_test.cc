// spec/data_layout: the accepted folder names of each dataset, which one wins, and
// which keys a root advertises (imagenet-c-extra only with its own corruptions).
#include "spec/data_layout.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace rib::spec {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::ScratchDir;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

TEST(DataLayoutTest, FolderCandidatesPreferredFirst) {
  EXPECT_THAT(DatasetFolderCandidates("imagenet-sketch"),
              ElementsAre("imagenet-sketch", "sketch"));
  EXPECT_EQ(DatasetFolder("imagenet-val"), "imagenet/val");
  EXPECT_EQ(DatasetFolder("imagenet-c-extra"), "imagenet-c");
  EXPECT_EQ(DatasetFolder("imagenet-r"), "imagenet-r");
  EXPECT_EQ(ImageNetCCorruptions().size(), 15u);
  EXPECT_EQ(ImageNetCCorruptions().front(), "gaussian_noise");
  EXPECT_EQ(ImageNetCCorruptions().back(), "jpeg_compression");
  EXPECT_THAT(ImageNetCExtraCorruptions(),
              ElementsAre("speckle_noise", "gaussian_blur", "spatter", "saturate"));
}

TEST(DataLayoutTest, FindDatasetFolderAndListAvailable) {
  ScratchDir dir;
  EXPECT_EQ(FindDatasetFolder(dir.path(), "imagenet-sketch"), "");
  fs::create_directories(dir.Join("sketch/n01440764"));
  EXPECT_EQ(FindDatasetFolder(dir.path(), "imagenet-sketch"), "sketch");
  fs::create_directories(dir.Join("imagenet-sketch"));
  EXPECT_EQ(FindDatasetFolder(dir.path(), "imagenet-sketch"), "imagenet-sketch");

  fs::create_directories(dir.Join("imagenet-c/fog/1"));
  auto keys = ListAvailableDatasets(dir.path(), dir.Join("no-fmnist"));
  EXPECT_THAT(keys, ElementsAre("imagenet-sketch", "imagenet-c"));
  fs::create_directories(dir.Join("imagenet-c/saturate/1"));
  keys = ListAvailableDatasets(dir.path(), dir.Join("no-fmnist"));
  EXPECT_THAT(keys, ElementsAre("imagenet-sketch", "imagenet-c", "imagenet-c-extra"));
  EXPECT_THAT(ListAvailableDatasets(dir.Join("missing")), Not(Contains("imagenet-c")));
}

}  // namespace
}  // namespace rib::spec
