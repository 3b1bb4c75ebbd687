// Pillow's resampling (libImaging/Resample.c, 8 bits per channel) for 8-bit RGB images,
// bit-exact with PIL's Image.resize for bicubic and bilinear, with SIMD kernels chosen
// at run time (internal to worker/data; image.cc and the tests use it).
//
// Exactness: the same double-precision filter weights, converted to PIL's 22-bit fixed
// point, horizontal pass then vertical pass, each rounded and clipped to uint8 as PIL
// stores its intermediate image. The SIMD kernels compute the same integer sums: each
// weight k is split as k = hi * 2^11 + lo (lo in [0, 2^11)), both halves fit int16, so
// pmaddwd sums pixel pairs exactly, and (sum_hi << 11) + sum_lo equals PIL's int32 sum
// (modular arithmetic; PIL's sum itself never overflows). No result depends on the
// kernel, so no tolerance is needed between them.
// Thread-safe: pure functions.
#ifndef RIB_WORKER_DATA_PIL_RESAMPLE_H_
#define RIB_WORKER_DATA_PIL_RESAMPLE_H_

#include <opencv2/core.hpp>

namespace rib::data::internal {

// Which kernels PilResizeCrop may use. kAuto: the fastest the CPU supports (AVX2 for
// both passes on x86-64 machines that have it; else SSSE3 for the horizontal pass and
// the scalar loop for the vertical one; else scalar). kSse: at most the SSSE3 level.
// The choice exists so that the tests can compare every path on the same machine.
enum class ResampleKernels { kAuto, kScalar, kSse, kAvx2 };

// Resizes an 8-bit RGB image (CV_8UC3, any step) to (out_w, out_h) like PIL and returns
// only the window [left, left + crop_w) x [top, top + crop_h) of the result (the centre
// crop): the rows and columns outside it are never computed, and the kept pixels are
// the same as resizing everything and cropping afterwards. `bicubic` false = bilinear.
// Requires 0 <= left, left + crop_w <= out_w, and likewise for rows; a kernel the CPU
// lacks falls back to the next one down.
cv::Mat PilResizeCrop(const cv::Mat& rgb, int out_w, int out_h, int left, int top,
                      int crop_w, int crop_h, bool bicubic,
                      ResampleKernels kernels = ResampleKernels::kAuto);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_PIL_RESAMPLE_H_
