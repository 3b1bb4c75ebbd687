// Internal: the image transforms that make FMNIST-RIB's distribution shifts. Every
// function is deterministic given its Rng; images are 32x32 float in [0, 1] (CV_32FC1
// grey input, CV_32FC3 RGB output).
#ifndef RIB_WORKER_DATA_FMNIST_SHIFTS_H_
#define RIB_WORKER_DATA_FMNIST_SHIFTS_H_

#include <cmath>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "worker/data/rng.h"

namespace rib::data::internal {

// The 15 ImageNet-C benchmark corruptions, in the standard order.
const std::vector<std::string>& CorruptionNames();

cv::Mat GreyToRgb(const cv::Mat& grey);
cv::Mat ShiftV2(const cv::Mat& grey, Rng& rng);         // mild acquisition shift
cv::Mat ShiftRendition(const cv::Mat& grey, Rng& rng);  // -r: colour/texture styles
cv::Mat ShiftSketch(const cv::Mat& grey, Rng& rng);     // -sketch: edge drawing
cv::Mat ShiftObjectNet(const cv::Mat& grey, Rng& rng);  // rotation, scale, clutter
cv::Mat ShiftCartoon(const cv::Mat& grey, Rng& rng);    // flat colours + outlines
cv::Mat ShiftDrawing(const cv::Mat& grey, Rng& rng);    // coloured-pencil strokes
// -c: corruption index in CorruptionNames(), severity 1..5. `rng` should be seeded the
// same for every severity of one image so that severities differ only in strength.
cv::Mat Corrupt(const cv::Mat& rgb, int corruption, int severity, Rng& rng);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_FMNIST_SHIFTS_H_
