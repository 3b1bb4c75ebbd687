// The SIMD kernels of the PIL resampler against its scalar loops: the same integer
// arithmetic, so the bytes must be equal (no tolerance), on sizes that exercise every
// path: row widths not a multiple of 16 or 32 bytes, crops that end at the right edge
// (where a pixel's loads would pass the row end and it takes the scalar loop), rows
// narrower than one vector, upscales, and inputs that are views into a larger image.
#include "worker/data/pil_resample.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rib::data::internal {
namespace {

cv::Mat Noise(int w, int h, uint64_t seed) {
  cv::Mat img(h, w, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  return img;
}

// First differing byte, or "" when a and b are equal.
std::string Diff(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return "different shapes";
  for (int y = 0; y < a.rows; ++y)
    for (int x = 0; x < a.cols * 3; ++x)
      if (a.ptr<uint8_t>(y)[x] != b.ptr<uint8_t>(y)[x]) {
        return absl::StrCat("byte (", y, ", ", x, "): ", a.ptr<uint8_t>(y)[x], " vs ",
                            b.ptr<uint8_t>(y)[x]);
      }
  return "";
}

struct Case {
  int in_w, in_h, out_w, out_h, left, top, crop_w, crop_h;
};

TEST(PilResampleTest, SimdKernelsEqualScalar) {
  const Case cases[] = {
      {500, 375, 341, 256, 58, 16, 224, 224},  // ImageNet-size landscape
      {375, 500, 256, 341, 16, 58, 224, 224},  // portrait
      {333, 517, 121, 187, 12, 45, 97, 97},    // odd sizes: 291-byte rows, 97 = 4k + 1
      {400, 399, 200, 200, 0, 0, 200, 200},    // crop to the right and bottom edges
      {641, 480, 299, 224, 0, 0, 299, 224},    // whole output, 897-byte rows
      {61, 45, 17, 13, 2, 0, 13, 13},          // 39-byte rows: one AVX2 block + overlap
      {23, 19, 7, 5, 1, 0, 5, 5},              // 15-byte rows: narrower than SSE
      {40, 30, 97, 73, 12, 0, 73, 73},         // upscale (support not widened)
      {300, 300, 300, 150, 0, 0, 300, 150},    // vertical pass only
      {300, 300, 150, 300, 0, 0, 150, 300},    // horizontal pass only
      {1001, 3, 77, 2, 0, 0, 77, 2},           // extreme ratios, very few rows
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    for (bool bicubic : {true, false}) {
      const cv::Mat img = Noise(c.in_w, c.in_h, seed++);
      const cv::Mat ref = PilResizeCrop(img, c.out_w, c.out_h, c.left, c.top, c.crop_w,
                                        c.crop_h, bicubic, ResampleKernels::kScalar);
      ASSERT_EQ(ref.cols, c.crop_w);
      ASSERT_EQ(ref.rows, c.crop_h);
      for (ResampleKernels k : {ResampleKernels::kSse, ResampleKernels::kAvx2,
                                ResampleKernels::kAuto}) {
        const cv::Mat got = PilResizeCrop(img, c.out_w, c.out_h, c.left, c.top, c.crop_w,
                                          c.crop_h, bicubic, k);
        EXPECT_EQ(Diff(got, ref), "")
            << c.in_w << "x" << c.in_h << " -> " << c.out_w << "x" << c.out_h
            << (bicubic ? " bicubic" : " bilinear") << " kernels " << static_cast<int>(k);
      }
    }
  }
}

TEST(PilResampleTest, CropEqualsResizeThenCrop) {
  // Computing only the kept window gives the pixels of the whole resize, cropped.
  const cv::Mat img = Noise(500, 375, 7);
  const cv::Mat full = PilResizeCrop(img, 341, 256, 0, 0, 341, 256, true);
  const cv::Mat crop = PilResizeCrop(img, 341, 256, 58, 16, 224, 224, true);
  EXPECT_EQ(Diff(crop, full(cv::Rect(58, 16, 224, 224))), "");
}

TEST(PilResampleTest, ReadsOnlyItsView) {
  // A view into a larger image (row step > width * 3, the pixels right of it set to
  // 255): the result equals that of a compact copy, so nothing outside the view is read.
  cv::Mat big = Noise(520, 400, 11);
  big(cv::Rect(500, 0, 20, 400)).setTo(cv::Scalar::all(255));
  const cv::Mat view = big(cv::Rect(0, 10, 500, 375));
  const cv::Mat copy = view.clone();
  for (ResampleKernels k : {ResampleKernels::kScalar, ResampleKernels::kAuto}) {
    EXPECT_EQ(Diff(PilResizeCrop(view, 333, 250, 0, 0, 333, 250, true, k),
                   PilResizeCrop(copy, 333, 250, 0, 0, 333, 250, true, k)),
              "");
  }
}

}  // namespace
}  // namespace rib::data::internal
