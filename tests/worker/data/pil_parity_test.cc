// PreprocessImage against PIL itself: torchvision's Resize + CenterCrop on the same
// pixels (python3 writes the reference bytes at test time, see
// make_pil_resize_fixtures.py), on sizes and ratios that take every kernel path (row
// widths not a multiple of the vector width, crops at the edges, tiny images,
// upscales, bilinear). Equal to the 8-bit level, no tolerance: the port is exact.
// Skipped (exit 77) only when no python3 with PIL and torchvision is installed.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/python_script.h"
#include "tests/testing/test_env.h"
#include "worker/data/image.h"

namespace rib::data {
namespace {

using ::rib::testing::ScratchDir;

struct Case {
  std::string name;
  int w, h, image_size;
  double crop_pct;
  std::string interp;
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"landscape", 500, 375, 224, 0.875, "bicubic"},
      {"portrait", 375, 500, 224, 0.875, "bicubic"},
      {"odd", 333, 517, 97, 0.8, "bicubic"},        // 97-pixel rows: 291 bytes
      {"edge", 400, 399, 200, 1.0, "bicubic"},      // the crop is the whole width
      {"wide", 1003, 301, 61, 0.9, "bicubic"},      // 3.3:1
      {"tiny", 23, 19, 5, 1.0, "bicubic"},          // 15-byte rows
      {"upscale", 40, 30, 64, 0.875, "bicubic"},    // smaller than the resize
      {"bilinear", 641, 480, 200, 0.9, "bilinear"}  // 222-pixel shorter side
  };
  return cases;
}

cv::Mat Noise(int w, int h, uint64_t seed) {
  // Noise plus a gradient: every level occurs, and so does the 0/255 clipping.
  cv::Mat img(h, w, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w / 3; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, 0, 255);
  return img;
}

class PilParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::rib::testing::SkipUnlessPythonHas("PIL, torchvision");
    dir_ = new ScratchDir();
    std::ofstream cases(dir_->Join("cases.txt"));
    uint64_t seed = 1;
    for (const Case& c : Cases()) {
      cv::Mat bgr;
      cv::cvtColor(Noise(c.w, c.h, seed++), bgr, cv::COLOR_RGB2BGR);
      cv::imwrite(dir_->Join(c.name + ".png"), bgr);  // lossless: PIL reads these pixels
      rib::Preprocessing p;
      p.image_size = c.image_size;
      p.crop_pct = c.crop_pct;
      cases << c.name << " " << ResizeSize(p) << " " << c.image_size << " " << c.interp
            << "\n";
    }
    cases.close();
    script_status_ = ::rib::testing::RunPythonScript(
        "tests/worker/data/make_pil_resize_fixtures.py", dir_->path(), dir_->Join("log"));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(script_status_, 0) << "see " << dir_->Join("log"); }

  static ScratchDir* dir_;
  static int script_status_;
};

ScratchDir* PilParityTest::dir_ = nullptr;
int PilParityTest::script_status_ = -1;

TEST_F(PilParityTest, PreprocessImageEqualsTorchvisionOnPil) {
  uint64_t seed = 1;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const cv::Mat img = Noise(c.w, c.h, seed++);
    rib::Preprocessing p;
    p.image_size = c.image_size;
    p.crop_pct = c.crop_pct;
    p.interpolation = c.interp;
    p.mean = {0, 0, 0};
    p.std = {1, 1, 1};
    // Levels back from x / 255 (exact: float(l / 255) * 255 rounds to l).
    const torch::Tensor got = PreprocessImage(img, p)
                                  .mul(255)
                                  .round()
                                  .to(torch::kUInt8)
                                  .permute({1, 2, 0})
                                  .contiguous();
    std::ifstream in(dir_->Join(c.name + ".rgb"), std::ios::binary);
    const std::vector<char> want((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
    ASSERT_EQ(static_cast<int64_t>(want.size()), got.numel());
    const auto* g = got.data_ptr<uint8_t>();
    int64_t differ = 0, first = -1;
    for (int64_t i = 0; i < got.numel(); ++i) {
      if (g[i] != static_cast<uint8_t>(want[i])) {
        if (first < 0) first = i;
        ++differ;
      }
    }
    EXPECT_EQ(differ, 0) << "first at byte " << first << " of " << got.numel();
  }
}

}  // namespace
}  // namespace rib::data
