#include "worker/data/image.h"

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <vector>

#ifdef RIB_HAVE_LIBJPEG
#include <jerror.h>
#include <jpeglib.h>
#endif

#include <torch/nn/functional/upsampling.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/buffer_pool.h"
#include "worker/data/pil_resample.h"

namespace rib::data {

namespace {

// The whole file into `*bytes` (reused: most files fit the previous one's capacity).
absl::Status ReadFile(const std::string& path, std::vector<unsigned char>* bytes) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return absl::NotFoundError(absl::StrCat("image file not found: ", path));
  bytes->clear();
  if (std::fseek(f, 0, SEEK_END) == 0) {
    const long n = std::ftell(f);
    if (n > 0) {
      bytes->resize(static_cast<size_t>(n));
      std::fseek(f, 0, SEEK_SET);
      bytes->resize(std::fread(bytes->data(), 1, bytes->size(), f));
    }
  }
  std::fclose(f);
  if (bytes->empty())
    return absl::DataLossError(absl::StrCat("empty image file: ", path));
  return absl::OkStatus();
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
  thread_local cv::Mat slot;
  *out = internal::PooledMat(&slot, static_cast<int>(cinfo.output_height),
                             static_cast<int>(cinfo.output_width), CV_8UC3);
  // Every row pointer at once: libjpeg fills as many as one call can. (Thread-local, not
  // a local: a longjmp from libjpeg must not skip a destructor.)
  thread_local std::vector<JSAMPROW> rows;
  rows.resize(cinfo.output_height);
  for (JDIMENSION y = 0; y < cinfo.output_height; ++y)
    rows[y] = out->ptr<unsigned char>(static_cast<int>(y));
  while (cinfo.output_scanline < cinfo.output_height) {
    jpeg_read_scanlines(&cinfo, &rows[cinfo.output_scanline],
                        cinfo.output_height - cinfo.output_scanline);
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
  thread_local std::vector<unsigned char> bytes;
  RIB_RETURN_IF_ERROR(ReadFile(path, &bytes));
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
  thread_local torch::Tensor slot;
  torch::Tensor out = internal::PooledFloatTensor(&slot, {3, h, w});
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
    return NormalizeU8(internal::PilResizeCrop(rgb, nw, nh, left, top, size, size,
                                               p.interpolation == "bicubic"),
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
