// Decoding and preprocessing of single images (internal to worker/data, but the bench
// and tests use it too).
//
// Preprocessing reproduces the published pipeline (timm / torchvision on PIL images):
// shorter side resized to floor(image_size / crop_pct) with the longer side
// floor(scale * long / short), interpolation antialiased like PIL's resampling when it
// shrinks (ATen's antialiased kernels), rounded back to 8 bits as PIL stores images,
// centre crop with torchvision's offsets (round-half-even), then (x/255 - mean) / std.
// Thread-safe: pure functions.
#ifndef RIB_WORKER_DATA_IMAGE_H_
#define RIB_WORKER_DATA_IMAGE_H_

#include <torch/types.h>

#include <opencv2/core.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "spec/job_spec.h"

namespace rib::data {

// Reads and decodes a JPEG/PNG file into an 8-bit RGB image (grey and alpha are
// converted). NOT_FOUND when the file is missing, DATA_LOSS naming the file when it
// does not decode.
absl::StatusOr<cv::Mat> DecodeImageFile(const std::string& path);

// Checks a Preprocessing (positive size, crop_pct in (0, 1], 3 means and stds, std > 0,
// interpolation bicubic/bilinear/nearest). INVALID_ARGUMENT otherwise.
absl::Status ValidatePreprocessing(const rib::Preprocessing& p);

// The resize of the shorter side: floor(image_size / crop_pct).
int ResizeSize(const rib::Preprocessing& p);

// 8-bit RGB (CV_8UC3) or grey (CV_8UC1, replicated) image → [3, size, size] float.
// `resize_backend`: "" / "pil" = this file's port of Pillow's resampling (the default;
// bit-exact with PIL for the same decoded pixels); "aten" = ATen's antialiased
// interpolation; "opencv" = cv::resize INTER_CUBIC/LINEAR (no antialiasing). The last two
// exist for the benchmark's comparison.
torch::Tensor PreprocessImage(const cv::Mat& image, const rib::Preprocessing& p,
                              const std::string& resize_backend = "");

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_IMAGE_H_
