// FMNIST-RIB: deterministic cached builds, the shape of each set, disjoint shards, and
// corruption severities that grow.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <opencv2/imgproc.hpp>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/data_layout.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/fmnist_set.h"
#include "worker/data/fmnist_shifts.h"
#include "worker/data/loader.h"
#include "worker/data/source.h"

namespace rib::data {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;

bool HaveFashionMnist() {
  return fs::exists(FmnistRibOptions().source_dir + "/t10k-images-idx3-ubyte.gz");
}

// One full build shared by the tests of this file.
class FmnistTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!HaveFashionMnist()) return;
    dir_ = new ScratchDir();
    const auto start = std::chrono::steady_clock::now();
    auto m = BuildFmnistRib(dir_->path(), FmnistRibOptions());
    build_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(m.ok()) << m.status();
    manifest_ = new FmnistManifest(*m);
  }
  static void TearDownTestSuite() {
    delete manifest_;
    delete dir_;
  }
  void SetUp() override {
    if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    ASSERT_NE(manifest_, nullptr);
    options_.data_root = dir_->path();
    options_.preprocessing.image_size = 32;
    options_.preprocessing.crop_pct = 1.0;
    options_.preprocessing.mean = {0, 0, 0};
    options_.preprocessing.std = {1, 1, 1};
  }
  std::unique_ptr<DatasetSource> Open(const std::string& key) {
    auto s = OpenDataset(key, options_);
    EXPECT_THAT(s.status(), IsOk());
    return s.ok() ? std::move(*s) : nullptr;
  }

  static ScratchDir* dir_;
  static FmnistManifest* manifest_;
  static double build_seconds_;
  DatasetOptions options_;
};
ScratchDir* FmnistTest::dir_ = nullptr;
FmnistManifest* FmnistTest::manifest_ = nullptr;
double FmnistTest::build_seconds_ = 0;

// How long a build takes is bench/ material (README), not an assertion here; this
// prints it. A second call reads the cache back instead of rebuilding: no file changes.
TEST_F(FmnistTest, BuildIsCachedAndDeterministic) {
  std::printf("FMNIST-RIB built in %.2f s\n", build_seconds_);
  EXPECT_EQ(manifest_->hash.size(), 64u);
  EXPECT_EQ(manifest_->dir, dir_->path() + "/fmnist-rib/v1");
  std::map<std::string, std::filesystem::file_time_type> written;
  for (const auto& d : manifest_->datasets)
    written[d.file] = std::filesystem::last_write_time(d.file);
  RIB_ASSERT_OK_AND_ASSIGN(FmnistManifest again,
                           BuildFmnistRib(dir_->path(), FmnistRibOptions()));
  for (const auto& [file, time] : written)
    EXPECT_EQ(std::filesystem::last_write_time(file), time) << file << " was rewritten";
  EXPECT_EQ(again.hash, manifest_->hash);
  // A fresh build elsewhere produces byte-identical files.
  ScratchDir other;
  RIB_ASSERT_OK_AND_ASSIGN(FmnistManifest fresh,
                           BuildFmnistRib(other.path(), FmnistRibOptions()));
  EXPECT_EQ(fresh.hash, manifest_->hash);
  for (const auto& d : manifest_->datasets)
    EXPECT_EQ(fresh.Find(d.key)->sha256, d.sha256) << d.key;
  // Other options live in another folder with another hash.
  FmnistRibOptions small;
  small.train_limit = 1000;
  RIB_ASSERT_OK_AND_ASSIGN(FmnistManifest variant, BuildFmnistRib(other.path(), small));
  EXPECT_NE(variant.hash, manifest_->hash);
  EXPECT_NE(variant.dir, fresh.dir);
  EXPECT_EQ(variant.Find("fmnist-train")->count, 1000);
}

TEST_F(FmnistTest, ListedAsAvailable) {
  const auto keys = spec::ListAvailableDatasets(dir_->path());
  for (const auto& k : FmnistKeys()) EXPECT_THAT(keys, ::testing::Contains(k));
  EXPECT_THAT(keys, ::testing::Not(::testing::Contains("imagenet-val")));
}

TEST_F(FmnistTest, SetSizesAndLabelSpaces) {
  std::map<std::string, int64_t> count;
  for (const auto& d : manifest_->datasets) count[d.key] = d.count;
  EXPECT_EQ(count["fmnist-train"], 60000);
  EXPECT_EQ(count["fmnist-val"], 2000);
  EXPECT_EQ(count["fmnist-v2"], 800);
  EXPECT_EQ(count["fmnist-c"], 3000);
  EXPECT_GT(count["fmnist-a"], 300);
  EXPECT_GT(count["fmnist-objectnet"], 600);  // the sandal images are left out
  EXPECT_LT(count["fmnist-objectnet"], 800);

  auto v2 = Open("fmnist-v2");
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->label_space().num_model_classes, 10);
  EXPECT_EQ(v2->label_space().num_labels(), 10);
  RIB_ASSERT_OK_AND_ASSIGN(torch::Tensor img, v2->LoadImage(v2->examples()[3]));
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_GE(img.min().item<float>(), 0.0f);
  EXPECT_LE(img.max().item<float>(), 1.0f);

  auto a = Open("fmnist-a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->label_space().class_subset.size(), 6u);  // as ImageNet-A's 200 of 1000
  for (const auto& e : a->examples()) ASSERT_LT(e.label, 6);

  auto obj = Open("fmnist-objectnet");
  ASSERT_NE(obj, nullptr);
  const LabelSpace& ls = obj->label_space();
  EXPECT_EQ(ls.num_labels(), 6);
  EXPECT_EQ(ls.class_subset, (std::vector<int64_t>{0, 1, 2, 3, 4, 6, 7, 8, 9}));
  EXPECT_EQ(ls.AcceptedClasses(0),
            (std::vector<int64_t>{0, 6}));  // top: t-shirt or shirt

  auto c = Open("fmnist-c");
  ASSERT_NE(c, nullptr);
  const auto subsets = c->subsets();
  ASSERT_EQ(subsets.size(), 75u);
  EXPECT_EQ(subsets.front(), "gaussian_noise/1");
  EXPECT_EQ(subsets.back(), "jpeg_compression/5");
  std::map<std::string, int> per_subset;
  std::map<std::string, std::set<std::string>> subsets_of_group;
  for (const auto& e : c->examples()) {
    ++per_subset[e.subset];
    subsets_of_group[e.group].insert(e.subset);
  }
  for (const auto& [s, n] : per_subset) EXPECT_EQ(n, 40) << s;
  EXPECT_EQ(subsets_of_group.size(), 200u);
  for (const auto& [g, s] : subsets_of_group)
    EXPECT_EQ(s.size(), 15u) << g;  // 3 corruptions x 5
  RIB_ASSERT_OK_AND_ASSIGN(Split split, SplitDataset(*c, options_));
  std::set<std::string> train_groups;
  for (const auto& e : split.train) train_groups.insert(e.group);
  for (const auto& e : split.test) EXPECT_EQ(train_groups.count(e.group), 0u) << e.group;
}

TEST_F(FmnistTest, ShardsAreDisjoint) {
  std::map<int64_t, std::string> owner;
  for (const auto& d : manifest_->datasets) {
    if (d.key == "fmnist-train") continue;
    RIB_ASSERT_OK_AND_ASSIGN(internal::FmnistSet set, internal::ReadFmnistSet(d.file));
    std::set<int64_t> mine(set.source.begin(), set.source.end());
    for (int64_t s : mine) {
      auto [it, inserted] = owner.emplace(s, d.key);
      EXPECT_TRUE(inserted) << "test image " << s << " in " << d.key << " and "
                            << it->second;
    }
  }
  EXPECT_GT(owner.size(), 6000u);
}

TEST_F(FmnistTest, LoaderServesTheSuite) {
  auto src = Open("fmnist-sketch");
  ASSERT_NE(src, nullptr);
  LoaderOptions lo;
  lo.batch_size = 64;
  lo.threads = 2;
  lo.shuffle = true;
  RIB_ASSERT_OK_AND_ASSIGN(auto loader,
                           BatchLoader::Create(src.get(), src->examples(), lo));
  Batch b;
  int64_t seen = 0;
  while (*loader->Next(&b)) seen += b.images.size(0);
  EXPECT_EQ(seen, 800);
  EXPECT_EQ(b.images.dim(), 4);
}

TEST_F(FmnistTest, BatchesDoNotDependOnThreadCount) {
  auto src = Open("fmnist-c");
  ASSERT_NE(src, nullptr);
  auto epoch = [&](int threads) {
    LoaderOptions lo;
    lo.batch_size = 50;
    lo.threads = threads;
    lo.shuffle = true;
    lo.seed = 9;
    lo.epoch = 2;
    std::vector<torch::Tensor> images;
    std::vector<std::string> subsets;
    auto loader = BatchLoader::Create(src.get(), src->examples(), lo);
    EXPECT_TRUE(loader.ok());
    Batch b;
    while (*(*loader)->Next(&b)) {
      images.push_back(b.images);
      subsets.insert(subsets.end(), b.subsets.begin(), b.subsets.end());
    }
    return std::make_pair(torch::cat(images), subsets);
  };
  const auto one = epoch(1), four = epoch(4);
  EXPECT_TRUE(torch::equal(one.first, four.first));
  EXPECT_EQ(one.second, four.second);
  EXPECT_EQ(one.first.size(0), 3000);
}

// Each corruption moves real images further from the clean ones as severity grows.
TEST_F(FmnistTest, CorruptionDistanceGrowsWithSeverity) {
  RIB_ASSERT_OK_AND_ASSIGN(internal::FmnistSet val,
                           internal::ReadFmnistSet(manifest_->Find("fmnist-val")->file));
  std::vector<cv::Mat> clean;
  for (int i = 0; i < 100; ++i) {
    cv::Mat g8(32, 32, CV_8UC1, const_cast<uint8_t*>(val.image(i))), g;
    g8.convertTo(g, CV_32F, 1.0 / 255);
    clean.push_back(internal::GreyToRgb(g));
  }
  const auto& names = internal::CorruptionNames();
  ASSERT_EQ(names.size(), 15u);
  for (int c = 0; c < 15; ++c) {
    double prev = 0;
    for (int s = 1; s <= 5; ++s) {
      double total = 0;
      for (size_t i = 0; i < clean.size(); ++i) {
        internal::Rng rng(7, 1000 * i + c);
        total += cv::norm(internal::Corrupt(clean[i], c, s, rng), clean[i], cv::NORM_L2);
      }
      const double mean = total / clean.size();
      EXPECT_GT(mean, prev * 1.02) << names[c] << " severity " << s;
      prev = mean;
    }
  }
}

TEST(FmnistRibTest, MissingSourceIsNotFound) {
  ScratchDir dir;
  FmnistRibOptions o;
  o.source_dir = dir.Join("nowhere");
  EXPECT_THAT(BuildFmnistRib(dir.path(), o).status(),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace rib::data
