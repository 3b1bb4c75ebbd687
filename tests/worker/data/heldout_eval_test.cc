// Held-out evaluation on every image not trained on (issue 15.9, EvaluationSet): for
// each (fine-tune i, eval j) pair, no evaluated example shows a source image of i's
// train side, and the off-diagonal sets are larger than j's test split.
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/data_layout.h"
#include "spec/suites.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/fixtures.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/imagenet_classes.h"
#include "worker/data/source.h"

namespace rib::data {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::ScratchDir;
using testing::ValPhoto;
using testing::WriteImage;

struct Opened {
  std::unique_ptr<DatasetSource> source;
  Split split;
};

Opened Open(const std::string& key, const DatasetOptions& options) {
  Opened o;
  auto src = OpenDataset(key, options);
  EXPECT_TRUE(src.ok()) << key << ": " << src.status();
  if (!src.ok()) return o;
  o.source = std::move(*src);
  auto split = SplitDataset(*o.source, options);
  EXPECT_TRUE(split.ok()) << key << ": " << split.status();
  if (split.ok()) o.split = std::move(*split);
  return o;
}

std::set<std::string> Sources(const std::vector<Example>& examples) {
  std::set<std::string> out;
  for (const Example& e : examples) out.insert(e.source);
  return out;
}

// Checks every (i, j) of `keys`.
void CheckAllPairs(const std::vector<std::string>& keys, const DatasetOptions& options) {
  std::map<std::string, Opened> sets;
  for (const auto& k : keys) sets[k] = Open(k, options);
  for (const auto& i : keys) {
    const Opened& train = sets[i];
    if (train.source == nullptr) continue;
    const TrainedOn trained{i, train.split.train};
    const std::set<std::string> trained_sources = Sources(trained.train);
    for (const auto& j : keys) {
      const Opened& eval = sets[j];
      if (eval.source == nullptr) continue;
      const std::vector<Example> chosen =
          EvaluationSet(*eval.source, eval.split, trained, options);
      if (i == j) {
        EXPECT_EQ(chosen.size(), eval.split.test.size()) << i;
        continue;
      }
      for (const Example& e : chosen) {
        ASSERT_FALSE(e.source.empty()) << j << " example " << e.index << " has no source";
        EXPECT_EQ(trained_sources.count(e.source), 0u)
            << "fine-tuned on " << i << ", evaluated on " << j << ": " << e.source
            << " was trained on";
      }
      EXPECT_GT(chosen.size(), eval.split.test.size()) << i << " -> " << j;
    }
  }
}

bool HaveFashionMnist() {
  return fs::exists(FmnistRibOptions().source_dir + "/t10k-images-idx3-ubyte.gz");
}

TEST(HeldOutEvalTest, FmnistRibPairsEvaluateAllOfJAndNoTrainedImage) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  ScratchDir dir;
  DatasetOptions options = testing::TinyImageOptions(dir.path());
  // The downstream sets are disjoint shards of the t10k images, so an off-diagonal cell
  // is the whole of j: 1 / test_fraction = 5 times its test split.
  const std::vector<std::string> keys = spec::SuiteEvalDatasets("fmnist-rib");
  ASSERT_EQ(keys.size(), 9u);
  CheckAllPairs(keys, options);
  const Opened c = Open("fmnist-c", options);
  const Opened r = Open("fmnist-r", options);
  ASSERT_NE(c.source, nullptr);
  ASSERT_NE(r.source, nullptr);
  const auto whole =
      EvaluationSet(*c.source, c.split, {"fmnist-r", r.split.train}, options);
  EXPECT_EQ(whole.size(), c.source->examples().size());
  EXPECT_GT(whole.size(), 4 * c.split.test.size());
  // Not trained at all (pre): the whole of every dataset.
  EXPECT_EQ(EvaluationSet(*r.source, r.split, {}, options).size(),
            r.source->examples().size());
  // reference: train = test = all, so the test side it is.
  options.split = "reference";
  const Opened ref = Open("fmnist-c", options);
  EXPECT_EQ(
      EvaluationSet(*ref.source, ref.split, {"fmnist-r", r.split.train}, options).size(),
      ref.split.test.size());
}

constexpr int kClasses = 3, kPhotos = 60;

// An ImageNet root where val, -C (15 corruptions x 5 severities) and -Drawing hold all
// 60 photos, -Cartoon only the even ones (a partial download), and -Sketch unrelated
// drawings.
class ImageNetHeldOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = testing::PhotoSplitOptions(dir_.path(), 3);
    const auto [wnids, photos] = testing::InterleavedValPhotos(kClasses, 7, 2, kPhotos);
    for (int c = 0; c < kClasses; ++c) {
      for (int n : photos[c]) {
        const std::string f = wnids[c] + "/" + ValPhoto(n);
        WriteImage(dir_.Join("imagenet/val/" + f + ".JPEG"), 4, 4);
        if (n % 2 == 0) WriteImage(dir_.Join("imagenet-cartoon/" + f + ".JPEG"), 4, 4);
        WriteImage(dir_.Join("imagenet-drawing/" + f + ".png"), 4, 4);
        WriteImage(dir_.Join("imagenet-sketch/" + wnids[c] + "/sketch_" +
                             std::to_string(n) + ".JPEG"),
                   4, 4);
      }
    }
    testing::WriteImageNetC(dir_.path(), spec::ImageNetCCorruptions(), wnids, photos);
  }
  ScratchDir dir_;
  DatasetOptions options_;
};

TEST_F(ImageNetHeldOutTest, NoEvaluatedPhotoWasTrainedOn) {
  const Opened cartoon = Open("imagenet-cartoon", options_);
  const Opened val = Open("imagenet-val", options_);
  ASSERT_NE(cartoon.source, nullptr);
  ASSERT_NE(val.source, nullptr);
  // Fine-tuned on the partial -Cartoon: val's odd photos were never trained on, so val
  // is evaluated on its test photos plus every odd photo.
  const auto chosen = EvaluationSet(*val.source, val.split,
                                    {"imagenet-cartoon", cartoon.split.train}, options_);
  const std::set<std::string> trained = Sources(cartoon.split.train);
  int64_t expected = 0;
  for (const Example& e : val.source->examples())
    expected += trained.count(e.source) == 0;
  EXPECT_EQ(static_cast<int64_t>(chosen.size()), expected);
  EXPECT_GT(chosen.size(), val.split.test.size());
  for (const Example& e : chosen) EXPECT_EQ(trained.count(e.source), 0u) << e.source;
  // Between two complete renderings the held-out photos are exactly the test photos.
  const Opened drawing = Open("imagenet-drawing", options_);
  ASSERT_NE(drawing.source, nullptr);
  EXPECT_EQ(EvaluationSet(*val.source, val.split,
                          {"imagenet-drawing", drawing.split.train}, options_)
                .size(),
            val.split.test.size());
  // Every pair among the renderings and -Sketch: nothing trained on is evaluated.
  std::map<std::string, Opened> sets;
  for (const std::string key : {"imagenet-val", "imagenet-c", "imagenet-drawing",
                                "imagenet-cartoon", "imagenet-sketch"}) {
    sets[key] = Open(key, options_);
    ASSERT_NE(sets[key].source, nullptr) << key;
  }
  for (auto& [i, train] : sets) {
    const std::set<std::string> sources = Sources(train.split.train);
    for (auto& [j, eval] : sets) {
      if (i == j) continue;
      for (const Example& e :
           EvaluationSet(*eval.source, eval.split, {i, train.split.train}, options_)) {
        if (!e.source.empty())
          EXPECT_EQ(sources.count(e.source), 0u) << i << " -> " << j << ": " << e.source;
      }
    }
  }
}

TEST_F(ImageNetHeldOutTest, UnrelatedDatasetsAreEvaluatedWhole) {
  const Opened sketch = Open("imagenet-sketch", options_);
  const Opened c = Open("imagenet-c", options_);
  ASSERT_NE(sketch.source, nullptr);
  ASSERT_NE(c.source, nullptr);
  for (const Example& e : sketch.source->examples()) ASSERT_EQ(e.source, "") << e.path;
  // -C after -Sketch: all 15 x 5 x 60 renderings, not only the test photos'.
  const auto all_c = EvaluationSet(*c.source, c.split,
                                   {"imagenet-sketch", sketch.split.train}, options_);
  EXPECT_EQ(all_c.size(), spec::ImageNetCCorruptions().size() * 5u * kPhotos);
  EXPECT_GT(all_c.size(), 2 * c.split.test.size());
  // -Sketch after -C: the whole of -Sketch.
  EXPECT_EQ(
      EvaluationSet(*sketch.source, sketch.split, {"imagenet-c", c.split.train}, options_)
          .size(),
      static_cast<size_t>(kPhotos));
}

TEST_F(ImageNetHeldOutTest, PhotosWithoutNamesFallBackToTheTestSplit) {
  // A -Drawing file renamed: which photo it shows is unknown, so fine-tuning on it may
  // have trained on any val photo; val then keeps to its test split.
  const std::string wnid = ImageNet1kWnids()[2];
  fs::rename(dir_.Join("imagenet-drawing/" + wnid + "/" + ValPhoto(3) + ".png"),
             dir_.Join("imagenet-drawing/" + wnid + "/renamed.png"));
  const Opened drawing = Open("imagenet-drawing", options_);
  const Opened val = Open("imagenet-val", options_);
  const Opened cartoon = Open("imagenet-cartoon", options_);
  ASSERT_NE(drawing.source, nullptr);
  int unknown = 0;
  for (const Example& e : drawing.source->examples())
    unknown += e.source == kUnknownSource;
  ASSERT_EQ(unknown, 1);
  TrainedOn trained{"imagenet-drawing", {}};
  for (const Example& e : drawing.source->examples())
    if (e.source == kUnknownSource || e.source == ValPhoto(5)) trained.train.push_back(e);
  const auto chosen = EvaluationSet(*val.source, val.split, trained, options_);
  ASSERT_EQ(chosen.size(), val.split.test.size());
  for (size_t k = 0; k < chosen.size(); ++k)
    EXPECT_EQ(chosen[k].index, val.split.test[k].index);
  // Evaluated itself after -Cartoon, the renamed drawing counts only if it is a test one.
  const auto drawings =
      EvaluationSet(*drawing.source, drawing.split,
                    {"imagenet-cartoon", cartoon.split.train}, options_);
  bool renamed_in_test = false;
  for (const Example& e : drawing.split.test)
    renamed_in_test |= e.source == kUnknownSource;
  int chosen_unknown = 0;
  for (const Example& e : drawings) chosen_unknown += e.source == kUnknownSource;
  EXPECT_EQ(chosen_unknown, renamed_in_test ? 1 : 0);
}

}  // namespace
}  // namespace rib::data
