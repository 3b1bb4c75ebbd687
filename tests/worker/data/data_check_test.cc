// rib-data check's report (CheckDataRoot) on a generated data root: what is found under
// which name, counts against the published ones, missing ImageNet-C subsets, files and
// folders under names rib does not read.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/data_layout.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/fixtures.h"
#include "worker/data/data_check.h"
#include "worker/data/imagenet_classes.h"

namespace rib::data {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ValPhoto;
using testing::WriteImage;

const DatasetCheck& Find(const std::vector<DatasetCheck>& checks, const std::string& key) {
  for (const auto& c : checks)
    if (c.key == key) return c;
  static const DatasetCheck none;
  ADD_FAILURE() << "no entry for " << key;
  return none;
}

TEST(DataCheckTest, PublishedCountsAreTheDatasetsPapers) {
  using Counts = std::pair<int64_t, int64_t>;  // images, classes
  std::map<std::string, Counts> counts;
  for (const auto& p : PublishedDatasetCounts()) counts[p.key] = {p.images, p.classes};
  EXPECT_EQ(counts, (std::map<std::string, Counts>{
                        {"imagenet-val", {50000, 1000}},
                        {"imagenet-v2", {10000, 1000}},
                        {"imagenet-a", {7500, 200}},
                        {"imagenet-r", {30000, 200}},
                        {"imagenet-sketch", {50889, 1000}},
                        {"objectnet", {50000, 313}},
                        {"imagenet-cartoon", {50000, 1000}},
                        {"imagenet-drawing", {50000, 1000}},
                        {"imagenet-c", {75 * 50000, 1000}},
                        {"imagenet-c-extra", {20 * 50000, 1000}},
                    }));
}

TEST(DataCheckTest, ReportsFoundMissingDifferingAndMisnamed) {
  ScratchDir dir;
  const auto& w = ImageNet1kWnids();
  // imagenet-r only as a 2-class stub; sketch/ as unpacked; ImageNet-C lacking fog/2;
  // imagenet-cartoon with one file renamed; two folders under other downloads' names.
  WriteImage(dir.Join("imagenet-r/" + w[1] + "/a.jpg"));
  WriteImage(dir.Join("imagenet-r/" + w[2] + "/a.jpg"));
  WriteImage(dir.Join("sketch/" + w[3] + "/sketch_1.JPEG"));
  testing::WriteImageNetC(dir.path(), spec::ImageNetCCorruptions(), {w[4]}, {{1}});
  fs::remove_all(dir.Join("imagenet-c/fog/2"));
  WriteImage(dir.Join("imagenet-cartoon/" + w[5] + "/" + ValPhoto(1) + ".JPEG"));
  WriteImage(dir.Join("imagenet-cartoon/" + w[5] + "/cartoon_2.jpg"));
  fs::create_directories(dir.Join("imagenetv2-matched-frequency-format-val/0"));
  fs::create_directories(dir.Join("ImageNet_A"));
  fs::create_directories(dir.Join("notes"));

  DatasetOptions options;
  options.data_root = dir.path();
  RIB_ASSERT_OK_AND_ASSIGN(auto checks, CheckDataRoot(options));

  const DatasetCheck& r = Find(checks, "imagenet-r");
  EXPECT_EQ(r.Status(), "differs");
  EXPECT_EQ(r.folder, "imagenet-r");
  EXPECT_EQ(r.images, 2);
  EXPECT_EQ(r.classes, 2);
  EXPECT_THAT(r.problems, ElementsAre("images: 2 found, 30000 published",
                                      "classes: 2 found, 200 published"));

  const DatasetCheck& sketch = Find(checks, "imagenet-sketch");
  EXPECT_EQ(sketch.folder, "sketch");
  EXPECT_EQ(sketch.images, 1);
  EXPECT_THAT(sketch.notes, ElementsAre(HasSubstr("read from sketch/, accepted for imagenet-sketch/")));

  const DatasetCheck& c = Find(checks, "imagenet-c");
  EXPECT_EQ(c.Status(), "error");
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_THAT(c.problems[0], HasSubstr(": fog/2; imagenet-c is 15 corruptions x 5"));

  const DatasetCheck& cartoon = Find(checks, "imagenet-cartoon");
  EXPECT_EQ(cartoon.images, 2);
  EXPECT_THAT(cartoon.problems,
              ::testing::Contains(HasSubstr("1 files not named ILSVRC2012_val_<8 digits>")));

  const DatasetCheck& val = Find(checks, "imagenet-val");
  EXPECT_EQ(val.Status(), "missing");
  EXPECT_THAT(val.problems, ElementsAre("not found: looked for imagenet/val"));
  EXPECT_EQ(Find(checks, "imagenet-c-extra").Status(), "missing");

  const DatasetCheck& root = Find(checks, "(root)");
  EXPECT_THAT(root.problems,
              ElementsAre("misnamed: ImageNet_A/ should be imagenet-a/",
                          "misnamed: imagenetv2-matched-frequency-format-val/ should be "
                          "imagenet-v2/imagenetv2-matched-frequency-format-val"));
  EXPECT_THAT(root.notes, ElementsAre("not read: notes/"));

  const std::string report = FormatDataCheck(checks);
  EXPECT_THAT(report, HasSubstr("imagenet-r        differs  imagenet-r                2     30000       2     200\n"));
  EXPECT_THAT(report, HasSubstr("imagenet-val      missing  -                         -     50000       -    1000\n"));
}

// README.md, "Bring your own models and data": the example root, checked with the
// rib-data binary; its output must be the README's block, line for line.
TEST(DataCheckTest, ReadmeExampleIsWhatRibDataPrints) {
  const char* src = std::getenv("RIB_SOURCE_DIR");
  const char* bin = std::getenv("RIB_BINARY_DIR");
  ASSERT_TRUE(src != nullptr && bin != nullptr) << "run through ctest";
  std::ifstream in(std::string(src) + "/README.md");
  std::stringstream readme;
  readme << in.rdbuf();
  const std::string text = readme.str();
  const std::string start = "$ rib-data check /datasets\n";
  const size_t a = text.find(start);
  ASSERT_NE(a, std::string::npos) << "README lost its rib-data check example";
  const size_t b = text.find("```", a);
  ASSERT_NE(b, std::string::npos);
  const std::string expected = text.substr(a + start.size(), b - a - start.size());

  // The root the README describes: a 2-image ImageNet-R stub, ImageNet-Sketch as its
  // archive unpacks (sketch/) with one image, and V2 under its archive's folder name.
  ScratchDir dir;
  WriteImage(dir.Join("imagenet-r/n01443537/art_0.jpg"));
  WriteImage(dir.Join("imagenet-r/n01484850/art_0.jpg"));
  WriteImage(dir.Join("sketch/n01440764/sketch_0.JPEG"));
  WriteImage(dir.Join("imagenetv2-matched-frequency-format-val/0/a.jpeg"));
  const std::string cmd =
      std::string(bin) + "/bin/rib-data check " + dir.path() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(out, expected);
}

TEST(DataCheckTest, MissingRootIsNotFound) {
  DatasetOptions options;
  options.data_root = "/nonexistent/rib-data-root";
  EXPECT_THAT(CheckDataRoot(options).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/rib-data-root")));
}

}  // namespace
}  // namespace rib::data
