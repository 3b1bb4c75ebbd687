// Datasets as downloaded (issue 17.4, 15.5), on generated data roots: the built-in
// ImageNet-1K class list, sketch/, a flat imagenet/val labelled by Kaggle's
// LOC_val_solution.csv or the devkit's ground truth, ImageNet-C exactly as published,
// and the 4 extra corruptions as their own key. Needs no shared data.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/data_layout.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/fixtures.h"
#include "worker/data/imagenet_classes.h"
#include "worker/data/source.h"

namespace rib::data {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ImageNetDir;
using testing::ReadLines;
using testing::ValPhoto;
using testing::WriteFile;
using testing::WriteImage;

class DownloadedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = testing::TinyImageOptions(dir_.path());
  }
  const std::vector<std::string>& wnids() const { return ImageNet1kWnids(); }

  std::vector<int64_t> Labels(const std::string& key) {
    std::vector<int64_t> out;
    auto src = OpenDataset(key, options_);
    EXPECT_THAT(src.status(), IsOk());
    if (src.ok())
      for (const auto& e : (*src)->examples()) out.push_back(e.label);
    return out;
  }

  ScratchDir dir_;
  DatasetOptions options_;
};

TEST_F(DownloadedTest, BuiltInClassListIsTheStandardSortedOrder) {
  const auto& w = wnids();
  ASSERT_EQ(w.size(), 1000u);
  EXPECT_EQ(w.front(), "n01440764");  // tench
  EXPECT_EQ(w[1], "n01443537");       // goldfish
  EXPECT_EQ(w.back(), "n15075141");   // toilet tissue
  EXPECT_TRUE(std::is_sorted(w.begin(), w.end()));
  EXPECT_EQ(std::set<std::string>(w.begin(), w.end()).size(), 1000u);
  EXPECT_EQ(ImageNet1kIndex("n04592741"), 908);  // wing (timm's imagenet-r index list)
  EXPECT_EQ(ImageNet1kIndex("n99999999"), -1);
  // Against the shared reference copy of timm's list, where this machine has it.
  const std::string shared = ImageNetDir() + "/imagenet_1k_wnids.txt";
  if (fs::exists(shared)) EXPECT_EQ(ReadLines(shared), w);
}

TEST_F(DownloadedTest, SketchFolderAsUnpackedIsAccepted) {
  // ImageNet-Sketch's archive unpacks to sketch/<wnid>/.
  WriteImage(dir_.Join("sketch/" + wnids()[7] + "/sketch_0.JPEG"));
  WriteImage(dir_.Join("sketch/" + wnids()[500] + "/sketch_1.JPEG"));
  EXPECT_THAT(Labels("imagenet-sketch"), ElementsAre(7, 500));
  EXPECT_EQ(spec::FindDatasetFolder(dir_.path(), "imagenet-sketch"), "sketch");
  // imagenet-sketch/ (the reference code's name) is preferred when both are there.
  WriteImage(dir_.Join("imagenet-sketch/" + wnids()[9] + "/a.JPEG"));
  EXPECT_THAT(Labels("imagenet-sketch"), ElementsAre(9));
}

TEST_F(DownloadedTest, FlatValWithKaggleSolutionCsv) {
  for (int n : {1, 2, 3}) WriteImage(dir_.Join("imagenet/val/" + ValPhoto(n) + ".JPEG"));
  WriteFile(dir_.Join(spec::kImageNetValSolutionCsv),
            "ImageId,PredictionString\n" + ValPhoto(2) + "," + wnids()[999] +
                " 1 2 3 4 \n" + ValPhoto(1) + "," + wnids()[5] + " 9 9 9 9 " + wnids()[5] +
                " 1 1 2 2\n" + ValPhoto(3) + "," + wnids()[0] + " 0 0 1 1\n");
  RIB_ASSERT_OK_AND_ASSIGN(auto src, OpenDataset("imagenet-val", options_));
  ASSERT_EQ(src->examples().size(), 3u);
  EXPECT_EQ(src->examples()[0].path, dir_.Join("imagenet/val/" + ValPhoto(1) + ".JPEG"));
  EXPECT_EQ(src->examples()[0].label, 5);
  EXPECT_EQ(src->examples()[1].label, 999);
  EXPECT_EQ(src->examples()[2].label, 0);
  EXPECT_EQ(src->examples()[2].photo, ValPhoto(3));
  EXPECT_EQ(src->label_space().num_model_classes, 1000);

  // A photo without a row names itself; a wnid outside the list names the row's image.
  WriteImage(dir_.Join("imagenet/val/" + ValPhoto(4) + ".JPEG"));
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(ValPhoto(4) + ".JPEG has no label in " +
                                 spec::kImageNetValSolutionCsv)));
  fs::remove(dir_.Join("imagenet/val/" + ValPhoto(4) + ".JPEG"));
  WriteFile(dir_.Join(spec::kImageNetValSolutionCsv),
            "ImageId,PredictionString\n" + ValPhoto(1) + ",n99999999 1 2 3 4\n" +
                ValPhoto(2) + "," + wnids()[1] + " 1 2 3 4\n" + ValPhoto(3) + "," +
                wnids()[1] + " 1 2 3 4\n");
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("n99999999")));
  // A file that is not Kaggle's format is refused with its line.
  WriteFile(dir_.Join(spec::kImageNetValSolutionCsv), "id,label\n1,2\n");
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("line 1: the header must be 'ImageId,PredictionString'")));
  WriteFile(dir_.Join(spec::kImageNetValSolutionCsv),
            "ImageId,PredictionString\n" + ValPhoto(1) + "," + wnids()[1] + " 1\n" +
                ValPhoto(1) + "," + wnids()[2] + " 1\n");
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("line 3: repeats " + ValPhoto(1))));
}

TEST_F(DownloadedTest, FlatValWithDevkitGroundTruthAndIdMapping) {
  for (int n : {1, 2}) WriteImage(dir_.Join("imagenet/val/" + ValPhoto(n) + ".JPEG"));
  // Without any label file the error says which files rib reads.
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(spec::kImageNetValSolutionCsv)));
  // The devkit's IDs are not class indices: alone they are refused.
  WriteFile(dir_.Join(spec::kImageNetValGroundTruth), "3\n1000\n");
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(spec::kImageNetIdToWnid)));
  // A generated ID → wnid list (ID k = the wnid of class 1000 - k, so it is not the
  // identity): photo 1 has ID 3 → class 997, photo 2 ID 1000 → class 0.
  std::string mapping;
  for (int k = 1; k <= 1000; ++k) absl::StrAppend(&mapping, wnids()[1000 - k], "\n");
  WriteFile(dir_.Join(spec::kImageNetIdToWnid), mapping);
  EXPECT_THAT(Labels("imagenet-val"), ElementsAre(997, 0));
  // Bad IDs and short mappings name the file and the problem.
  WriteFile(dir_.Join(spec::kImageNetValGroundTruth), "3\n1001\n");
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("line 2: expected an ILSVRC2012 ID 1..1000")));
  WriteFile(dir_.Join(spec::kImageNetValGroundTruth), "3\n1000\n");
  WriteFile(dir_.Join(spec::kImageNetIdToWnid), wnids()[0] + "\n" + wnids()[1] + "\n");
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has 2 wnids")));
}

TEST_F(DownloadedTest, ValWithBothLayoutsIsRefused) {
  WriteImage(dir_.Join("imagenet/val/" + wnids()[1] + "/" + ValPhoto(1) + ".JPEG"));
  WriteImage(dir_.Join("imagenet/val/" + ValPhoto(2) + ".JPEG"));
  EXPECT_THAT(OpenDataset("imagenet-val", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("both class folders and 1 loose images")));
}

TEST_F(DownloadedTest, ImageNetCNeedsAll75SubsetsAndNamesTheMissingOnes) {
  const auto& c15 = spec::ImageNetCCorruptions();
  ASSERT_EQ(c15.size(), 15u);
  testing::WriteImageNetC(dir_.path(), c15, {wnids()[2]}, {{1}});
  fs::remove_all(dir_.Join("imagenet-c/fog/3"));
  fs::remove_all(dir_.Join("imagenet-c/snow"));
  EXPECT_THAT(OpenDataset("imagenet-c", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("missing in " + dir_.Join("imagenet-c") +
                                 ": snow (all 5), fog/3; imagenet-c is 15 corruptions x 5 "
                                 "severities, all required")));
  testing::WriteImageNetC(dir_.path(), {"fog", "snow"}, {wnids()[2]}, {{1}});
  RIB_ASSERT_OK_AND_ASSIGN(auto src, OpenDataset("imagenet-c", options_));
  EXPECT_EQ(src->subsets().size(), 75u);
  EXPECT_EQ(src->examples().size(), 75u);
}

TEST_F(DownloadedTest, ExtraCorruptionsAreTheirOwnKeyNeverInTheMean) {
  testing::WriteImageNetC(dir_.path(), spec::ImageNetCCorruptions(), {wnids()[2]}, {{1}});
  // imagenet-c-extra is not there until its corruptions are.
  EXPECT_THAT(OpenDataset("imagenet-c-extra", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("speckle_noise")));
  testing::WriteImageNetC(dir_.path(), spec::ImageNetCExtraCorruptions(), {wnids()[2]},
                          {{1}});
  RIB_ASSERT_OK_AND_ASSIGN(auto c, OpenDataset("imagenet-c", options_));
  RIB_ASSERT_OK_AND_ASSIGN(auto extra, OpenDataset("imagenet-c-extra", options_));
  // The 15's subsets are exactly the 75 of the benchmark: no extra is averaged in.
  EXPECT_EQ(c->subsets().size(), 75u);
  for (const auto& s : c->subsets()) {
    EXPECT_THAT(s, Not(HasSubstr("speckle"))) << s;
    EXPECT_THAT(s, Not(HasSubstr("saturate"))) << s;
  }
  EXPECT_THAT(extra->subsets(),
              ::testing::ElementsAreArray(
                  {"speckle_noise/1", "speckle_noise/2", "speckle_noise/3",
                   "speckle_noise/4", "speckle_noise/5", "gaussian_blur/1",
                   "gaussian_blur/2", "gaussian_blur/3", "gaussian_blur/4",
                   "gaussian_blur/5", "spatter/1", "spatter/2", "spatter/3", "spatter/4",
                   "spatter/5", "saturate/1", "saturate/2", "saturate/3", "saturate/4",
                   "saturate/5"}));
  EXPECT_EQ(extra->examples()[0].label, 2);
}

}  // namespace
}  // namespace rib::data
