// Decoding and preprocessing: sizes, crop offsets, normalisation, the PIL-style resize.
#include "worker/data/image.h"

#include <cmath>
#include <opencv2/imgcodecs.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/data/fixtures.h"

namespace rib::data {
namespace {

using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ImageTest, ResizeSizeFollowsTimm) {
  rib::Preprocessing p;
  p.image_size = 224;
  p.crop_pct = 0.875;
  EXPECT_EQ(ResizeSize(p), 256);
  p.crop_pct = 0.9;
  EXPECT_EQ(ResizeSize(p), 248);
  p.crop_pct = 1.0;
  EXPECT_EQ(ResizeSize(p), 224);
}

TEST(ImageTest, ConstantImageNormalisesExactly) {
  cv::Mat img(375, 500, CV_8UC3, cv::Scalar(51, 102, 204));  // RGB input
  rib::Preprocessing p;  // 224, crop 0.9, mean = std = 0.5
  torch::Tensor t = PreprocessImage(img, p);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 224, 224}));
  for (int c = 0; c < 3; ++c) {
    const double expect = (img.at<cv::Vec3b>(0, 0)[c] / 255.0 - 0.5) / 0.5;
    EXPECT_NEAR(t[c].min().item<float>(), expect, 1e-6);
    EXPECT_NEAR(t[c].max().item<float>(), expect, 1e-6);
  }
}

TEST(ImageTest, CentreCropUsesTorchvisionOffsets) {
  // A 10x7 ramp image with image_size 7 and crop_pct 1: no resize, and the 7 columns
  // kept out of 10 start at int(round(1.5)) = 2 (Python rounds half to even).
  cv::Mat img(7, 10, CV_8UC3);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 10; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 20, y * 30, 0);
  rib::Preprocessing p;
  p.image_size = 7;
  p.crop_pct = 1.0;
  p.mean = {0, 0, 0};
  p.std = {1, 1, 1};
  torch::Tensor t = PreprocessImage(img, p);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 7, 7}));
  for (int x = 0; x < 7; ++x)
    EXPECT_NEAR(t[0][0][x].item<float>(), (x + 2) * 20 / 255.0, 1e-6);
}

TEST(ImageTest, PilResizeIsCloseToAtenAntialias) {
  // Smooth content: PIL's fixed-point resampling and ATen's float kernels agree to a
  // few 8-bit levels; OpenCV's INTER_CUBIC (no antialiasing) differs more on a shrink.
  cv::Mat img(375, 500, CV_8UC3);
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x)
      img.at<cv::Vec3b>(y, x) =
          cv::Vec3b((x * 7 + y * 3) % 256, (x * x / 50 + y) % 256, ((x / 4) % 2) * 255);
  rib::Preprocessing p;
  p.image_size = 128;
  p.crop_pct = 0.875;
  p.mean = {0, 0, 0};
  p.std = {1, 1, 1};
  torch::Tensor pil = PreprocessImage(img, p, "pil");
  torch::Tensor aten = PreprocessImage(img, p, "aten");
  torch::Tensor cv = PreprocessImage(img, p, "opencv");
  const float pil_aten = (pil - aten).abs().max().item<float>() * 255;
  const float pil_cv = (pil - cv).abs().mean().item<float>() * 255;
  const float pil_aten_mean = (pil - aten).abs().mean().item<float>() * 255;
  EXPECT_LE(pil_aten, 3.0f);
  EXPECT_LT(pil_aten_mean, 0.6f);
  EXPECT_GT(pil_cv, pil_aten_mean);
}

// Golden values from Pillow 9.4 (torchvision Resize + CenterCrop on a PIL image) for a
// formula image: the port of Pillow's resampling must reproduce them exactly.
cv::Mat FormulaImage(bool transpose) {
  cv::Mat img(375, 500, CV_8UC3);
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x)
      img.at<cv::Vec3b>(y, x) =
          cv::Vec3b((x * 7 + y * 3) % 256, (x * x / 50 + y) % 256, ((x / 4) % 2) * 255);
  if (transpose) return img.t();
  return img;
}

torch::Tensor AsLevels(const torch::Tensor& t) {
  return t.mul(255).round().to(torch::kLong).permute({1, 2, 0});  // HWC 8-bit levels
}

TEST(ImageTest, MatchesPillowExactly) {
  rib::Preprocessing p;
  p.image_size = 224;
  p.crop_pct = 0.875;  // Resize(256), bicubic
  p.mean = {0, 0, 0};
  p.std = {1, 1, 1};
  torch::Tensor a = AsLevels(PreprocessImage(FormulaImage(false), p));
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{224, 224, 3}));
  EXPECT_EQ(a.select(2, 0).sum().item<int64_t>(), 6397389);
  EXPECT_EQ(a.select(2, 1).sum().item<int64_t>(), 6392526);
  EXPECT_EQ(a.select(2, 2).sum().item<int64_t>(), 6403040);
  auto px = [&](int y, int x) {
    return std::vector<int64_t>{a[y][x][0].item<int64_t>(), a[y][x][1].item<int64_t>(),
                                a[y][x][2].item<int64_t>()};
  };
  EXPECT_EQ(px(0, 0), (std::vector<int64_t>{156, 169, 255}));
  EXPECT_EQ(px(100, 37), (std::vector<int64_t>{208, 47, 133}));
  EXPECT_EQ(px(223, 223), (std::vector<int64_t>{97, 165, 246}));
  EXPECT_EQ(px(5, 200), (std::vector<int64_t>{183, 80, 0}));

  // Portrait input, bilinear, Resize(int(200 / 0.9)) + CenterCrop(200).
  p.image_size = 200;
  p.crop_pct = 0.9;
  p.interpolation = "bilinear";
  torch::Tensor b = AsLevels(PreprocessImage(FormulaImage(true), p));
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{200, 200, 3}));
  EXPECT_EQ(b.select(2, 0).sum().item<int64_t>(), 5100012);
  EXPECT_EQ(b.select(2, 1).sum().item<int64_t>(), 5111006);
  EXPECT_EQ(b.select(2, 2).sum().item<int64_t>(), 5071600);
  EXPECT_EQ(b[17][150][0].item<int64_t>(), 52);
  EXPECT_EQ(b[17][150][2].item<int64_t>(), 255);
}

TEST(ImageTest, DecodeErrorsNameTheFile) {
  ScratchDir dir;
  EXPECT_THAT(DecodeImageFile(dir.Join("missing.jpg")).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.jpg")));
  testing::WriteFile(dir.Join("bad.png"), "\x89PNG\r\n\x1a\n garbage");
  EXPECT_THAT(DecodeImageFile(dir.Join("bad.png")).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bad.png")));
  testing::WriteImage(dir.Join("ok.png"), 5, 4, cv::Vec3b(1, 2, 3));
  RIB_ASSERT_OK_AND_ASSIGN(cv::Mat rgb, DecodeImageFile(dir.Join("ok.png")));
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(1, 2, 3));  // RGB order
}

TEST(ImageTest, ValidatePreprocessing) {
  rib::Preprocessing p;
  EXPECT_TRUE(ValidatePreprocessing(p).ok());
  p.crop_pct = 0;
  EXPECT_THAT(ValidatePreprocessing(p), StatusIs(absl::StatusCode::kInvalidArgument));
  p.crop_pct = 0.9;
  p.interpolation = "lanczos";
  EXPECT_THAT(ValidatePreprocessing(p), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib::data
