// The real benchmark's layouts on generated fixture trees: labels, masks, ImageNet-C
// subsets and groups, the ObjectNet mapping against the shared reference tables, and
// bad input.
#include <filesystem>
#include <map>
#include <set>

#include "common/json_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/data_layout.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/fixtures.h"
#include "worker/data/loader.h"
#include "worker/data/objectnet.h"
#include "worker/data/source.h"

namespace rib::data {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ImageNetDir;
using testing::ReadLines;
using testing::WriteFile;
using testing::WriteImage;

class LayoutsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(ImageNetDir() + "/imagenet_1k_wnids.txt")) {
      GTEST_SKIP() << "shared reference data not found at " << ImageNetDir();
    }
    wnids_ = ReadLines(ImageNetDir() + "/imagenet_1k_wnids.txt");
    ASSERT_EQ(wnids_.size(), 1000u);
    options_ = testing::TinyImageOptions(dir_.path());
    options_.class_list_file = ImageNetDir() + "/imagenet_1k_wnids.txt";
  }

  std::unique_ptr<DatasetSource> Open(const std::string& key) {
    auto src = OpenDataset(key, options_);
    EXPECT_THAT(src.status(), IsOk());
    return src.ok() ? std::move(*src) : nullptr;
  }

  ScratchDir dir_;
  DatasetOptions options_;
  std::vector<std::string> wnids_;
};

TEST_F(LayoutsTest, ImageNetValLabelsAreSortedWnidIndices) {
  for (int c : {0, 1, 999})
    for (int i = 0; i < 2; ++i)
      WriteImage(
          dir_.Join("imagenet/val/" + wnids_[c] + "/img" + std::to_string(i) + ".JPEG"));
  auto src = Open("imagenet-val");
  ASSERT_NE(src, nullptr);
  std::vector<int64_t> labels;
  for (const auto& e : src->examples()) labels.push_back(e.label);
  EXPECT_THAT(labels, ElementsAre(0, 0, 1, 1, 999, 999));
  EXPECT_EQ(src->label_space().num_model_classes, 1000);
  EXPECT_TRUE(src->label_space().class_subset.empty());
  EXPECT_EQ(src->examples()[4].path,
            dir_.Join("imagenet/val/" + wnids_[999] + "/img0.JPEG"));
  EXPECT_EQ(src->examples()[5].index, 5);
  // Without the explicit file, the built-in ImageNet-1K list labels the 3 folders alike.
  options_.class_list_file.clear();
  RIB_ASSERT_OK_AND_ASSIGN(auto builtin, OpenDataset("imagenet-val", options_));
  labels.clear();
  for (const auto& e : builtin->examples()) labels.push_back(e.label);
  EXPECT_THAT(labels, ElementsAre(0, 0, 1, 1, 999, 999));
  // An explicit file in another order wins over the built-in list.
  WriteFile(dir_.Join("reversed.txt"), wnids_[999] + "\n" + wnids_[1] + "\n" + wnids_[0]);
  options_.class_list_file = dir_.Join("reversed.txt");
  RIB_ASSERT_OK_AND_ASSIGN(auto reversed, OpenDataset("imagenet-val", options_));
  labels.clear();
  for (const auto& e : reversed->examples()) labels.push_back(e.label);
  EXPECT_THAT(labels, ElementsAre(2, 2, 1, 1, 0, 0));
}

TEST_F(LayoutsTest, ARootWithOnlyImageNetRIsLabelledByTheBuiltInList) {
  // The case: no imagenet/val, no class_list_file.
  options_.class_list_file.clear();
  WriteImage(dir_.Join("imagenet-r/" + wnids_[1] + "/1.png"));
  WriteImage(dir_.Join("imagenet-r/" + wnids_[933] + "/1.png"));
  auto r = Open("imagenet-r");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->label_space().class_subset, (std::vector<int64_t>{1, 933}));
  EXPECT_EQ(r->label_space().num_model_classes, 1000);
}

TEST_F(LayoutsTest, SketchCartoonDrawingLabelLikeVal) {
  for (const std::string key :
       {"imagenet-sketch", "imagenet-cartoon", "imagenet-drawing"}) {
    WriteImage(dir_.Join(key + "/" + wnids_[7] + "/a.png"));
    WriteImage(dir_.Join(key + "/" + wnids_[500] + "/b.jpg"));
    auto src = Open(key);
    ASSERT_NE(src, nullptr);
    ASSERT_EQ(src->examples().size(), 2u);
    EXPECT_EQ(src->examples()[0].label, 7) << key;
    EXPECT_EQ(src->examples()[1].label, 500) << key;
  }
}

TEST_F(LayoutsTest, ImageNetV2LabelsAreFolderIntegers) {
  const std::string root = "imagenet-v2/imagenetv2-matched-frequency-format-val/";
  for (const std::string f : {"0", "10", "2", "999"})
    WriteImage(dir_.Join(root + f + "/x.jpeg"));
  auto src = Open("imagenet-v2");
  ASSERT_NE(src, nullptr);
  std::vector<int64_t> labels;
  for (const auto& e : src->examples()) labels.push_back(e.label);
  EXPECT_THAT(labels, ElementsAre(0, 10, 2, 999));  // folders sorted as strings
  WriteImage(dir_.Join(root + "07/x.jpeg"));
  EXPECT_THAT(OpenDataset("imagenet-v2", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'07'")));
}

TEST_F(LayoutsTest, ImageNetAAndRCarryTheir200ClassMasks) {
  for (const std::string key : {"imagenet-a", "imagenet-r"}) {
    const std::string tag = key.substr(key.size() - 1);
    const auto subset_wnids =
        ReadLines(ImageNetDir() + "/imagenet_" + tag + "_wnids.txt");
    const auto indices = ReadLines(ImageNetDir() + "/imagenet_" + tag + "_indices.txt");
    ASSERT_EQ(subset_wnids.size(), 200u);
    for (const auto& w : subset_wnids)
      WriteImage(dir_.Join(key + "/" + w + "/1.jpg"), 4, 4);
    auto src = Open(key);
    ASSERT_NE(src, nullptr);
    const LabelSpace& ls = src->label_space();
    ASSERT_EQ(ls.class_subset.size(), 200u);
    for (size_t i = 0; i < 200; ++i)
      EXPECT_EQ(ls.class_subset[i], std::stoll(indices[i])) << key << i;
    EXPECT_EQ(ls.num_labels(), 200);
    EXPECT_EQ(src->examples()[17].label, 17);
    EXPECT_THAT(ls.AcceptedClasses(17), ElementsAre(std::stoll(indices[17])));
  }
  WriteImage(dir_.Join("imagenet-a/n99999999/1.jpg"));
  EXPECT_THAT(OpenDataset("imagenet-a", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("n99999999")));
}

TEST_F(LayoutsTest, ImageNetCSubsetsAndGroups) {
  // All 15 corruptions x 5 severities, 2 classes x 2 photos each, as published.
  testing::WriteImageNetC(dir_.path(), spec::ImageNetCCorruptions(), {wnids_[3], wnids_[4]},
                          {{1, 2}, {3, 4}});
  auto src = Open("imagenet-c");
  ASSERT_NE(src, nullptr);
  const auto subsets = src->subsets();
  ASSERT_EQ(subsets.size(), 75u);
  EXPECT_EQ(subsets[0],
            "gaussian_noise/1");  // standard corruption order, not alphabetical
  EXPECT_EQ(subsets[45], "fog/1");
  EXPECT_EQ(subsets[74], "jpeg_compression/5");
  ASSERT_EQ(src->examples().size(), 300u);
  std::map<std::string, std::set<std::string>> subsets_of_group;
  for (const auto& e : src->examples()) {
    EXPECT_EQ(e.label, e.photo <= testing::ValPhoto(2) ? 3 : 4) << e.path;
    EXPECT_EQ(e.group, e.photo);
    subsets_of_group[e.group].insert(e.subset);
  }
  ASSERT_EQ(subsets_of_group.size(), 4u);  // 2 classes x 2 photos
  for (const auto& [g, s] : subsets_of_group) EXPECT_EQ(s.size(), 75u) << g;
  // The split never puts one photo on both sides.
  options_.test_fraction = 0.5;
  RIB_ASSERT_OK_AND_ASSIGN(Split split, SplitDataset(*src, options_));
  std::set<std::string> train_groups, test_groups;
  for (const auto& e : split.train) train_groups.insert(e.group);
  for (const auto& e : split.test) test_groups.insert(e.group);
  for (const auto& g : test_groups) EXPECT_EQ(train_groups.count(g), 0u) << g;
  EXPECT_EQ(train_groups.size() + test_groups.size(), 4u);
  EXPECT_EQ(split.train.size() + split.test.size(), 300u);

  WriteImage(dir_.Join("imagenet-c/fog/6/" + wnids_[3] + "/x.JPEG"));
  EXPECT_THAT(OpenDataset("imagenet-c", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'6'")));
  fs::remove_all(dir_.Join("imagenet-c/fog/6"));
  WriteImage(dir_.Join("imagenet-c/rain/1/" + wnids_[3] + "/x.JPEG"));
  EXPECT_THAT(OpenDataset("imagenet-c", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("rain")));
}

TEST_F(LayoutsTest, ImageNetCFilesWithOtherNamesGroupByClassAndFile) {
  // Renamed files (not ILSVRC2012_val_*) still keep one (class, file) on one side.
  for (const auto& c : spec::ImageNetCCorruptions())
    for (int s = 1; s <= 5; ++s)
      WriteImage(dir_.Join("imagenet-c/" + c + "/" + std::to_string(s) + "/" + wnids_[3] +
                           "/v1.JPEG"),
                 4, 4);
  auto src = Open("imagenet-c");
  ASSERT_NE(src, nullptr);
  for (const auto& e : src->examples()) {
    EXPECT_EQ(e.photo, "");
    EXPECT_EQ(e.group, wnids_[3] + "/v1.JPEG");
  }
}

class ObjectNetTest : public LayoutsTest {
 protected:
  void SetUp() override {
    LayoutsTest::SetUp();
    if (IsSkipped()) return;
    const std::string mappings = dir_.Join("objectnet-1.0/mappings");
    fs::create_directories(mappings);
    for (const std::string f :
         {"folder_to_objectnet_label.json", "objectnet_to_imagenet_1k.json",
          "pytorch_to_imagenet_2012_id.json", "imagenet_to_label_2012_v2",
          "imagenet_class_clip_names.json"}) {
      fs::copy_file(ImageNetDir() + "/" + f, mappings + "/" + f);
    }
    RIB_ASSERT_OK_AND_ASSIGN(auto folders,
                             ReadJsonFile(mappings + "/folder_to_objectnet_label.json"));
    ASSERT_EQ(folders.object.size(), 313u);
    for (const auto& [folder, label] : folders.object) {
      WriteImage(dir_.Join("objectnet-1.0/images/" + folder + "/a.png"), 6, 6);
    }
  }

  std::map<std::string, std::vector<int64_t>> Table(const std::string& file) {
    auto json = ReadJsonFile(ImageNetDir() + "/" + file);
    EXPECT_THAT(json.status(), IsOk());
    std::map<std::string, std::vector<int64_t>> out;
    for (const auto& [k, v] : json->object) {
      if (v.type == JsonValue::Type::kArray) {
        for (const auto& x : v.array) out[k].push_back(static_cast<int64_t>(x.number));
      } else {
        out[k].push_back(static_cast<int64_t>(v.number));
      }
    }
    return out;
  }
};

TEST_F(ObjectNetTest, StandardProtocolMatchesTheCorrectTable) {
  auto src = Open("objectnet");
  ASSERT_NE(src, nullptr);
  const LabelSpace& ls = src->label_space();
  const auto correct = Table("objectnet_correct_mapping.json");
  ASSERT_EQ(correct.size(), 113u);
  ASSERT_EQ(ls.num_labels(), 113);
  EXPECT_EQ(ls.class_subset.size(), 125u);
  for (int64_t l = 0; l < ls.num_labels(); ++l) {
    EXPECT_EQ(ls.AcceptedClasses(l), correct.at(ls.label_names[l])) << ls.label_names[l];
  }
  EXPECT_EQ(src->examples().size(), 113u);  // the 200 unmapped folders are left out
}

TEST_F(ObjectNetTest, ReferenceModeReproducesThePublishedTable) {
  options_.objectnet_mode = "reference";
  auto src = Open("objectnet");
  ASSERT_NE(src, nullptr);
  const LabelSpace& ls = src->label_space();
  const auto reference = Table("objectnet_reference_mapping.json");
  const auto correct = Table("objectnet_correct_mapping.json");
  ASSERT_EQ(ls.num_labels(), 113);
  EXPECT_EQ(ls.class_subset.size(), 105u);
  std::set<std::string> differ;
  for (int64_t l = 0; l < ls.num_labels(); ++l) {
    const std::string& folder = ls.label_names[l];
    EXPECT_EQ(ls.AcceptedClasses(l), reference.at(folder)) << folder;
    const auto& ok = correct.at(folder);
    if (std::find(ok.begin(), ok.end(), ls.AcceptedClasses(l)[0]) == ok.end())
      differ.insert(folder);
  }
  EXPECT_EQ(differ, (std::set<std::string>{"weight_scale", "chair", "trash_bin",
                                           "swimming_trunks", "skirt", "jeans",
                                           "binder_closed", "iron_for_clothes"}));
}

TEST_F(ObjectNetTest, BorderIsCroppedAndUnmappedFolderIsAnError) {
  // A 12x12 image with a 2-px red border around green: after the crop only green is left.
  const std::string path = dir_.Join("objectnet-1.0/images/banana/a.png");
  cv::Mat img(12, 12, CV_8UC3, cv::Scalar(0, 0, 255));
  img(cv::Rect(2, 2, 8, 8)).setTo(cv::Scalar(0, 255, 0));
  cv::imwrite(path, img);
  options_.preprocessing.mean = {0, 0, 0};
  options_.preprocessing.std = {1, 1, 1};
  auto src = Open("objectnet");
  ASSERT_NE(src, nullptr);
  const Example* banana = nullptr;
  for (const auto& e : src->examples())
    if (e.path == path) banana = &e;
  ASSERT_NE(banana, nullptr);
  RIB_ASSERT_OK_AND_ASSIGN(torch::Tensor t, src->LoadImage(*banana));
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 8, 8}));
  EXPECT_FLOAT_EQ(t[0].max().item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(t[1].min().item<float>(), 1.0f);

  WriteImage(dir_.Join("objectnet-1.0/images/hoverboard/a.png"));
  EXPECT_THAT(OpenDataset("objectnet", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'hoverboard'")));
}

TEST_F(LayoutsTest, BadInput) {
  // Missing root and missing layout.
  DatasetOptions missing = options_;
  missing.data_root = dir_.Join("nope");
  EXPECT_THAT(OpenDataset("imagenet-val", missing).status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(OpenDataset("imagenet-r", options_).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("imagenet-r")));
  // Names that would escape the root, and unknown keys.
  EXPECT_THAT(OpenDataset("../etc", options_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(OpenDataset("imagenet-x", options_).status(),
              StatusIs(absl::StatusCode::kNotFound));
  // An empty class folder names itself.
  fs::create_directories(dir_.Join("imagenet-sketch/" + wnids_[1]));
  WriteImage(dir_.Join("imagenet-sketch/" + wnids_[2] + "/ok.jpg"));
  EXPECT_THAT(OpenDataset("imagenet-sketch", options_).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(wnids_[1])));
}

TEST_F(LayoutsTest, CorruptImageFailsWithItsPathOrIsSkipped) {
  WriteImage(dir_.Join("imagenet-cartoon/" + wnids_[5] + "/good1.jpg"));
  WriteImage(dir_.Join("imagenet-cartoon/" + wnids_[5] + "/good2.jpg"));
  const std::string bad = dir_.Join("imagenet-cartoon/" + wnids_[5] + "/bad.jpg");
  WriteFile(bad, std::string("\xff\xd8\xff\xe0 not really a jpeg", 24));
  auto src = Open("imagenet-cartoon");
  ASSERT_NE(src, nullptr);
  ASSERT_EQ(src->examples().size(), 3u);
  EXPECT_THAT(src->LoadImage(src->examples()[0]).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(bad)));

  LoaderOptions lo;
  lo.batch_size = 3;
  lo.threads = 2;
  RIB_ASSERT_OK_AND_ASSIGN(auto loader,
                           BatchLoader::Create(src.get(), src->examples(), lo));
  Batch batch;
  EXPECT_THAT(loader->Next(&batch).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(bad)));

  lo.skip_corrupt = true;
  RIB_ASSERT_OK_AND_ASSIGN(loader, BatchLoader::Create(src.get(), src->examples(), lo));
  RIB_ASSERT_OK_AND_ASSIGN(bool more, loader->Next(&batch));
  ASSERT_TRUE(more);
  EXPECT_EQ(batch.skipped, 1);
  EXPECT_EQ(batch.images.size(0), 2);
  EXPECT_THAT(batch.indices, ElementsAre(1, 2));
  EXPECT_EQ(loader->total_skipped(), 1);
}

TEST_F(LayoutsTest, ListAvailableDatasetsSeesLayouts) {
  WriteImage(dir_.Join("imagenet-a/" + wnids_[6] + "/1.jpg"));
  WriteImage(dir_.Join("imagenet-c/fog/1/" + wnids_[6] + "/1.jpg"));
  const auto keys = spec::ListAvailableDatasets(dir_.path());
  EXPECT_THAT(keys, ::testing::Contains("imagenet-a"));
  EXPECT_THAT(keys, ::testing::Contains("imagenet-c"));
  EXPECT_THAT(keys, ::testing::Not(::testing::Contains("imagenet-val")));
  // The extras share imagenet-c/: listed only once one of their corruptions is there.
  EXPECT_THAT(keys, ::testing::Not(::testing::Contains("imagenet-c-extra")));
  WriteImage(dir_.Join("imagenet-c/spatter/1/" + wnids_[6] + "/1.jpg"));
  WriteImage(dir_.Join("sketch/" + wnids_[6] + "/1.jpg"));
  EXPECT_THAT(spec::ListAvailableDatasets(dir_.path()),
              ::testing::IsSupersetOf({"imagenet-c-extra", "imagenet-sketch"}));
  EXPECT_TRUE(spec::ListAvailableDatasets(dir_.Join("missing")).empty());
}

}  // namespace
}  // namespace rib::data
