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
