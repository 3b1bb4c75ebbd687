#include "worker/data/image.h"

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#ifdef RIB_HAVE_LIBJPEG
#include <jerror.h>
#include <jpeglib.h>
#endif

#include <torch/nn/functional/upsampling.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib::data {

namespace {

absl::StatusOr<std::vector<unsigned char>> ReadFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return absl::NotFoundError(absl::StrCat("image file not found: ", path));
  std::vector<unsigned char> bytes;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    const long n = std::ftell(f);
    if (n > 0) {
      bytes.resize(static_cast<size_t>(n));
      std::fseek(f, 0, SEEK_SET);
      bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
    }
  }
  std::fclose(f);
  if (bytes.empty()) return absl::DataLossError(absl::StrCat("empty image file: ", path));
  return bytes;
}

#ifdef RIB_HAVE_LIBJPEG
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  bool truncated = false;
};

void JpegErrorExit(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<JpegError*>(cinfo->err)->jump, 1);
}

void JpegEmitMessage(j_common_ptr cinfo, int level) {
  // Warnings stay quiet, except a premature end of data, which PIL refuses too.
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0 && err->mgr.msg_code == JWRN_JPEG_EOF) err->truncated = true;
}

enum class JpegResult { kOk, kCorrupt, kUnsupported };

// libjpeg(-turbo) straight to RGB: the same decoder and settings PIL uses (so the same
// pixels), about twice as fast as going through cv::imdecode and a BGR→RGB pass.
JpegResult DecodeJpeg(const std::vector<unsigned char>& bytes, cv::Mat* out,
                      std::string* why) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = JpegErrorExit;
  err.mgr.emit_message = JpegEmitMessage;
  jpeg_create_decompress(&cinfo);
  if (setjmp(err.jump)) {
    char msg[JMSG_LENGTH_MAX];
    (*cinfo.err->format_message)(reinterpret_cast<j_common_ptr>(&cinfo), msg);
    *why = msg;
    const bool unsupported = err.mgr.msg_code == JERR_CONVERSION_NOTIMPL;
    jpeg_destroy_decompress(&cinfo);
    return unsupported ? JpegResult::kUnsupported : JpegResult::kCorrupt;
  }
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return JpegResult::kUnsupported;  // OpenCV converts CMYK
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out->create(static_cast<int>(cinfo.output_height), static_cast<int>(cinfo.output_width),
              CV_8UC3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->ptr<unsigned char>(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.truncated) {
    *why = "premature end of JPEG data";
    return JpegResult::kCorrupt;
  }
  return JpegResult::kOk;
}
#endif  // RIB_HAVE_LIBJPEG

}  // namespace

absl::StatusOr<cv::Mat> DecodeImageFile(const std::string& path) {
  RIB_ASSIGN_OR_RETURN(std::vector<unsigned char> bytes, ReadFile(path));
#ifdef RIB_HAVE_LIBJPEG
  if (bytes.size() > 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    cv::Mat rgb;
    std::string why;
    switch (DecodeJpeg(bytes, &rgb, &why)) {
      case JpegResult::kOk:
        return rgb;
      case JpegResult::kCorrupt:
        return absl::DataLossError(absl::StrCat("cannot decode image ", path, ": ", why));
      case JpegResult::kUnsupported:
        break;  // e.g. CMYK: OpenCV below
    }
  }
#endif
  cv::Mat decoded;
  try {
    // PIL (and so the published numbers) ignores EXIF orientation; so do we.
    decoded =
        cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, bytes.data()),
                     cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    return absl::DataLossError(
        absl::StrCat("cannot decode image ", path, ": ", e.what()));
  }
  if (decoded.empty() || decoded.depth() != CV_8U) {
    return absl::DataLossError(absl::StrCat("cannot decode image: ", path));
  }
  cv::Mat rgb;
  cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

absl::Status ValidatePreprocessing(const rib::Preprocessing& p) {
  if (p.image_size <= 0 || p.image_size > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_size must be in [1, 4096], got ", p.image_size));
  }
  if (!(p.crop_pct > 0.0 && p.crop_pct <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("crop_pct must be in (0, 1], got ", p.crop_pct));
  }
  if (p.mean.size() != 3 || p.std.size() != 3) {
    return absl::InvalidArgumentError("mean and std must have 3 values (RGB)");
  }
  for (double s : p.std) {
    if (!(s > 0)) return absl::InvalidArgumentError("std values must be positive");
  }
  if (p.interpolation != "bicubic" && p.interpolation != "bilinear" &&
      p.interpolation != "nearest") {
    return absl::InvalidArgumentError(
        absl::StrCat("interpolation must be bicubic, bilinear or nearest, got '",
                     p.interpolation, "'"));
  }
  return absl::OkStatus();
}

int ResizeSize(const rib::Preprocessing& p) {
  // timm: scale_size = math.floor(img_size / crop_pct). The epsilon keeps exact ratios
  // such as 224 / 0.875 = 256 from rounding down to 255.
  return static_cast<int>(std::floor(p.image_size / p.crop_pct + 1e-9));
}

namespace {

// torchvision's center_crop offset: int(round((size - crop) / 2.0)), round-half-even.
int CropOffset(int size, int crop) {
  return static_cast<int>(std::nearbyint((size - crop) / 2.0));
}

// ---- Pillow's resampling (libImaging/Resample.c), 8 bits per channel ----
// Reproduced operation for operation (double-precision coefficients, converted to 22-bit
// fixed point, horizontal pass then vertical pass, rounding and clipping to uint8), so
// the output equals PIL's Image.resize for the same decoded pixels.
constexpr int kPrecisionBits = 32 - 8 - 2;

double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double BilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // per output index: xmin, count
  std::vector<int32_t> k;   // per output index: ksize fixed-point weights
};

// Coefficients for output indices [out0, out0 + n) of a resize from in_size to out_size.
Coeffs PrecomputeCoeffs(int in_size, int out_size, int out0, int n, bool bicubic) {
  const double support0 = bicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = support0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(2 * n);
  c.k.assign(static_cast<size_t>(n) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  const double ss = 1.0 / filterscale;
  for (int i = 0; i < n; ++i) {
    const int xx = out0 + i;
    const double center = (xx + 0.5) * scale;
    double ww = 0.0;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      const double v = bicubic ? BicubicFilter((x + xmin - center + 0.5) * ss)
                               : BilinearFilter((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      c.k[static_cast<size_t>(i) * c.ksize + x] =
          v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[2 * i] = xmin;
    c.bounds[2 * i + 1] = xmax;
  }
  return c;
}

inline uint8_t Clip8(int32_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One row of the horizontal pass: PIL's loop, three channels at a time.
void HorizontalRow(const uint8_t* in, uint8_t* out, int crop_w, const Coeffs& hc) {
  for (int xx = 0; xx < crop_w; ++xx) {
    const int xmin = hc.bounds[2 * xx], xmax = hc.bounds[2 * xx + 1];
    const int32_t* k = &hc.k[static_cast<size_t>(xx) * hc.ksize];
    int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
    const uint8_t* p = in + 3 * xmin;
    for (int x = 0; x < xmax; ++x, p += 3) {
      s0 += p[0] * k[x];
      s1 += p[1] * k[x];
      s2 += p[2] * k[x];
    }
    out[3 * xx] = Clip8(s0);
    out[3 * xx + 1] = Clip8(s1);
    out[3 * xx + 2] = Clip8(s2);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
bool HaveSse41() {
  static const bool have = __builtin_cpu_supports("sse4.1");
  return have;
}

// The same integer arithmetic with the three channels in one SSE4.1 register (exact:
// 32-bit products and sums as in PIL). Selected at run time.
__attribute__((target("sse4.1"))) void HorizontalRowSse41(const uint8_t* in, uint8_t* out,
                                                          int crop_w, const Coeffs& hc) {
  const __m128i round = _mm_set1_epi32(1 << (kPrecisionBits - 1));
  for (int xx = 0; xx < crop_w; ++xx) {
    const int xmin = hc.bounds[2 * xx], xmax = hc.bounds[2 * xx + 1];
    const int32_t* k = &hc.k[static_cast<size_t>(xx) * hc.ksize];
    const uint8_t* p = in + 3 * xmin;
    __m128i acc = round;
    for (int x = 0; x < xmax; ++x, p += 3) {
      // Three bytes only: a 4-byte load could read past the end of the image.
      const int rgb = p[0] | (p[1] << 8) | (p[2] << 16);
      const __m128i px = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(rgb));
      acc = _mm_add_epi32(acc, _mm_mullo_epi32(px, _mm_set1_epi32(k[x])));
    }
    alignas(16) int32_t v[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(v), acc);
    out[3 * xx] = Clip8(v[0]);
    out[3 * xx + 1] = Clip8(v[1]);
    out[3 * xx + 2] = Clip8(v[2]);
  }
}
#else
bool HaveSse41() { return false; }
void HorizontalRowSse41(const uint8_t* in, uint8_t* out, int crop_w, const Coeffs& hc) {
  HorizontalRow(in, out, crop_w, hc);
}
#endif

// Resizes an RGB image to (out_w, out_h) like PIL and returns only the window
// [left, left + crop_w) x [top, top + crop_h) of the result (the centre crop), which
// costs less than resizing everything and gives the same pixels.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))  // vectorises the row accumulation (~2x here)
#endif
cv::Mat
PilResizeCrop(const cv::Mat& rgb, int out_w, int out_h, int left, int top, int crop_w,
              int crop_h, bool bicubic) {
  const int in_w = rgb.cols, in_h = rgb.rows;
  const Coeffs hc = PrecomputeCoeffs(in_w, out_w, left, crop_w, bicubic);
  const Coeffs vc = PrecomputeCoeffs(in_h, out_h, top, crop_h, bicubic);
  // Rows of the input the vertical pass reads.
  const int y_first = vc.bounds[0];
  const int y_last = vc.bounds[2 * (crop_h - 1)] + vc.bounds[2 * (crop_h - 1) + 1];
  const bool need_h = out_w != in_w;
  const bool need_v = out_h != in_h;
  cv::Mat tmp;  // horizontal pass: rows [y_first, y_last), crop_w columns
  if (need_h) {
    tmp.create(y_last - y_first, crop_w, CV_8UC3);
    const bool simd = HaveSse41();
    for (int y = y_first; y < y_last; ++y) {
      if (simd) {
        HorizontalRowSse41(rgb.ptr<uint8_t>(y), tmp.ptr<uint8_t>(y - y_first), crop_w,
                           hc);
      } else {
        HorizontalRow(rgb.ptr<uint8_t>(y), tmp.ptr<uint8_t>(y - y_first), crop_w, hc);
      }
    }
  } else {
    tmp = rgb(cv::Rect(left, y_first, crop_w, y_last - y_first));
  }
  if (!need_v) {
    return tmp(cv::Rect(0, top - y_first, crop_w, crop_h)).clone();
  }
  cv::Mat out(crop_h, crop_w, CV_8UC3);
  const int row_len = crop_w * 3;
  std::vector<int32_t> acc(row_len);
  for (int yy = 0; yy < crop_h; ++yy) {
    const int ymin = vc.bounds[2 * yy] - y_first, ymax = vc.bounds[2 * yy + 1];
    const int32_t* k = &vc.k[static_cast<size_t>(yy) * vc.ksize];
    // Row-wise accumulation (same sums as PIL's per-pixel loop, in sequential memory).
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < ymax; ++y) {
      const uint8_t* row = tmp.ptr<uint8_t>(ymin + y);
      const int32_t ky = k[y];
      int32_t* a = acc.data();
      for (int xx = 0; xx < row_len; ++xx) a[xx] += row[xx] * ky;
    }
    uint8_t* o = out.ptr<uint8_t>(yy);
    for (int xx = 0; xx < row_len; ++xx) o[xx] = Clip8(acc[xx]);
  }
  return out;
}

torch::Tensor Normalize(const torch::Tensor& chw255, const rib::Preprocessing& p) {
  auto mean =
      torch::tensor({p.mean[0], p.mean[1], p.mean[2]}, torch::kFloat).view({3, 1, 1});
  auto stdv =
      torch::tensor({p.std[0], p.std[1], p.std[2]}, torch::kFloat).view({3, 1, 1});
  return chw255.div(255.0f).sub_(mean).div_(stdv).contiguous();
}

// uint8 HWC RGB → normalised float CHW, computed in one pass.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
torch::Tensor
NormalizeU8(const cv::Mat& rgb, const rib::Preprocessing& p) {
  const int h = rgb.rows, w = rgb.cols;
  torch::Tensor out = torch::empty({3, h, w}, torch::kFloat);
  float* o0 = out.data_ptr<float>();
  float* o1 = o0 + static_cast<size_t>(h) * w;
  float* o2 = o1 + static_cast<size_t>(h) * w;
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = static_cast<float>(1.0 / (255.0 * p.std[c]));
    shift[c] = static_cast<float>(-p.mean[c] / p.std[c]);
  }
  for (int y = 0; y < h; ++y) {
    const uint8_t* in = rgb.ptr<uint8_t>(y);
    float* r = o0 + static_cast<size_t>(y) * w;
    float* g = o1 + static_cast<size_t>(y) * w;
    float* b = o2 + static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      r[x] = in[3 * x] * scale[0] + shift[0];
      g[x] = in[3 * x + 1] * scale[1] + shift[1];
      b[x] = in[3 * x + 2] * scale[2] + shift[2];
    }
  }
  return out;
}

}  // namespace

torch::Tensor PreprocessImage(const cv::Mat& image, const rib::Preprocessing& p,
                              const std::string& resize_backend) {
  cv::Mat rgb = image;
  if (image.channels() == 1) cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB);
  const int h = rgb.rows, w = rgb.cols;
  const int scale = ResizeSize(p);
  int nh, nw;
  if (h <= w) {
    nh = scale;
    nw = static_cast<int>(static_cast<int64_t>(scale) * w / h);
  } else {
    nw = scale;
    nh = static_cast<int>(static_cast<int64_t>(scale) * h / w);
  }
  const int size = p.image_size;
  const bool pil = resize_backend.empty() || resize_backend == "pil";
  if (pil && p.interpolation != "nearest" && nh >= size && nw >= size) {
    const int top = CropOffset(nh, size), left = CropOffset(nw, size);
    if (nh == h && nw == w) return NormalizeU8(rgb(cv::Rect(left, top, size, size)), p);
    return NormalizeU8(
        PilResizeCrop(rgb, nw, nh, left, top, size, size, p.interpolation == "bicubic"),
        p);
  }
  if (!rgb.isContinuous()) rgb = rgb.clone();
  torch::Tensor chw;  // [3, nh, nw] float with values in [0, 255]
  if (nh == h && nw == w) {
    chw = torch::from_blob(rgb.data, {h, w, 3}, torch::kUInt8)
              .permute({2, 0, 1})
              .to(torch::kFloat);
  } else if (resize_backend == "opencv") {
    cv::Mat resized;
    const int mode = p.interpolation == "bicubic"    ? cv::INTER_CUBIC
                     : p.interpolation == "bilinear" ? cv::INTER_LINEAR
                                                     : cv::INTER_NEAREST;
    cv::resize(rgb, resized, cv::Size(nw, nh), 0, 0, mode);
    chw = torch::from_blob(resized.data, {nh, nw, 3}, torch::kUInt8)
              .permute({2, 0, 1})
              .to(torch::kFloat);
  } else {  // "aten" (and nearest): ATen's antialiased kernels, rounded to 8 bits
    namespace F = torch::nn::functional;
    auto in = torch::from_blob(rgb.data, {1, h, w, 3}, torch::kUInt8)
                  .permute({0, 3, 1, 2})
                  .to(torch::kFloat)
                  .contiguous();
    auto opts = F::InterpolateFuncOptions().size(std::vector<int64_t>{nh, nw});
    if (p.interpolation == "nearest") {
      opts.mode(torch::kNearest);
    } else if (p.interpolation == "bicubic") {
      opts.mode(torch::kBicubic).align_corners(false).antialias(true);
    } else {
      opts.mode(torch::kBilinear).align_corners(false).antialias(true);
    }
    chw = F::interpolate(in, opts).round_().clamp_(0, 255).squeeze(0);
  }
  if (nh < size || nw < size) {  // cannot happen with crop_pct <= 1; pad like torchvision
    chw = torch::constant_pad_nd(
        chw, {0, std::max(0, size - nw), 0, std::max(0, size - nh)}, 0);
    nh = std::max(nh, size);
    nw = std::max(nw, size);
  }
  const int top = CropOffset(nh, size), left = CropOffset(nw, size);
  return Normalize(chw.slice(1, top, top + size).slice(2, left, left + size), p);
}

}  // namespace rib::data
