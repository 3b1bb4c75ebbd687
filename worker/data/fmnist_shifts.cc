#include "worker/data/fmnist_shifts.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace rib::data::internal {
namespace {

constexpr int kSize = 32;
constexpr double kPi = 3.14159265358979323846;

cv::Mat Clamp01(cv::Mat m) {
  cv::min(m, 1.0, m);
  cv::max(m, 0.0, m);
  return m;
}

// HSV (all in [0, 1]) to an RGB colour.
cv::Vec3f Hsv(double h, double s, double v) {
  h = h - std::floor(h);
  const double c = v * s, x = c * (1 - std::fabs(std::fmod(h * 6, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h * 6) % 6) {
    case 0:
      r = c;
      g = x;
      break;
    case 1:
      r = x;
      g = c;
      break;
    case 2:
      g = c;
      b = x;
      break;
    case 3:
      g = x;
      b = c;
      break;
    case 4:
      r = x;
      b = c;
      break;
    default:
      r = c;
      b = x;
      break;
  }
  return cv::Vec3f(static_cast<float>(r + m), static_cast<float>(g + m),
                   static_cast<float>(b + m));
}

// out = bg * (1 - w) + fg * w per pixel, w a CV_32FC1 weight map.
cv::Mat Blend(const cv::Mat& w, const cv::Mat& bg, const cv::Mat& fg) {
  cv::Mat out(w.size(), CV_32FC3);
  for (int y = 0; y < w.rows; ++y) {
    for (int x = 0; x < w.cols; ++x) {
      const float a = w.at<float>(y, x);
      out.at<cv::Vec3f>(y, x) =
          bg.at<cv::Vec3f>(y, x) * (1 - a) + fg.at<cv::Vec3f>(y, x) * a;
    }
  }
  return out;
}

cv::Mat Solid(cv::Vec3f colour) {
  return cv::Mat(kSize, kSize, CV_32FC3, cv::Scalar(colour[0], colour[1], colour[2]));
}

// Edge strength (Sobel magnitude) of a grey image, roughly in [0, 1].
cv::Mat EdgeMagnitude(const cv::Mat& grey) {
  cv::Mat gx, gy, mag;
  cv::Sobel(grey, gx, CV_32F, 1, 0, 3);
  cv::Sobel(grey, gy, CV_32F, 0, 1, 3);
  cv::magnitude(gx, gy, mag);
  return Clamp01(mag * 0.35);
}

cv::Mat CannyEdges(const cv::Mat& grey, double lo, double hi) {
  cv::Mat g8, edges, f;
  grey.convertTo(g8, CV_8U, 255.0);
  cv::Canny(g8, edges, lo, hi, 3, true);
  edges.convertTo(f, CV_32F, 1.0 / 255.0);
  return f;
}

cv::Mat Noise(Rng& rng, int channels, double sigma) {
  cv::Mat n(kSize, kSize, CV_32FC(channels));
  float* p = n.ptr<float>();
  for (size_t i = 0; i < n.total() * channels; ++i)
    p[i] = static_cast<float>(sigma * rng.Normal());
  return n;
}

cv::Mat UniformField(Rng& rng, int channels) {
  cv::Mat n(kSize, kSize, CV_32FC(channels));
  float* p = n.ptr<float>();
  for (size_t i = 0; i < n.total() * channels; ++i)
    p[i] = static_cast<float>(rng.Uniform());
  return n;
}

cv::Mat LineKernel(double length, double angle_deg) {
  const int k = static_cast<int>(std::ceil(length)) | 1;
  cv::Mat kern = cv::Mat::zeros(k, k, CV_32F);
  const double c = (k - 1) / 2.0, a = angle_deg * kPi / 180.0;
  const int steps = 8 * k;
  for (int i = 0; i <= steps; ++i) {
    const double t = (static_cast<double>(i) / steps - 0.5) * (length - 1);
    const int x = static_cast<int>(std::lround(c + t * std::cos(a)));
    const int y = static_cast<int>(std::lround(c + t * std::sin(a)));
    if (x >= 0 && x < k && y >= 0 && y < k) kern.at<float>(y, x) += 1.0f;
  }
  return kern / cv::sum(kern)[0];
}

// Smooth multi-octave noise in [0, 1] (fog and frost textures).
cv::Mat OctaveNoise(Rng& rng, double persistence) {
  cv::Mat acc = cv::Mat::zeros(kSize, kSize, CV_32F);
  double amp = 1.0, total = 0.0;
  for (int cells = 2; cells <= kSize; cells *= 2) {
    cv::Mat coarse(cells, cells, CV_32F);
    for (int i = 0; i < cells * cells; ++i)
      coarse.at<float>(i) = static_cast<float>(rng.Uniform());
    cv::Mat up;
    cv::resize(coarse, up, cv::Size(kSize, kSize), 0, 0, cv::INTER_LINEAR);
    acc += up * amp;
    total += amp;
    amp *= persistence;
  }
  return acc / total;
}

}  // namespace

const std::vector<std::string>& CorruptionNames() {
  static const auto* names = new std::vector<std::string>{"gaussian_noise",
                                                          "shot_noise",
                                                          "impulse_noise",
                                                          "defocus_blur",
                                                          "glass_blur",
                                                          "motion_blur",
                                                          "zoom_blur",
                                                          "snow",
                                                          "frost",
                                                          "fog",
                                                          "brightness",
                                                          "contrast",
                                                          "elastic_transform",
                                                          "pixelate",
                                                          "jpeg_compression"};
  return *names;
}

cv::Mat GreyToRgb(const cv::Mat& grey) {
  cv::Mat rgb;
  cv::cvtColor(grey, rgb, cv::COLOR_GRAY2RGB);
  return rgb;
}

cv::Mat ShiftV2(const cv::Mat& grey, Rng& rng) {
  // A fresh sample photographed slightly differently: framing, exposure, focus, sensor
  // noise and white balance all move a little.
  const double dx = static_cast<double>(rng.Int(5) - 2),
               dy = static_cast<double>(rng.Int(5) - 2);
  cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, dx, 0, 1, dy), g;
  cv::warpAffine(grey, g, m, grey.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
  const double gain = rng.Uniform(0.8, 1.1), gamma = rng.Uniform(0.8, 1.3);
  cv::pow(g, gamma, g);
  g *= gain;
  const double sigma = rng.Uniform(0.0, 0.8);
  if (sigma > 0.2) cv::GaussianBlur(g, g, cv::Size(0, 0), sigma);
  cv::Mat rgb = GreyToRgb(g);
  const cv::Scalar wb(1 + rng.Uniform(-0.08, 0.08), 1 + rng.Uniform(-0.08, 0.08),
                      1 + rng.Uniform(-0.08, 0.08));
  cv::multiply(rgb, wb, rgb);
  rgb += cv::Scalar::all(rng.Uniform(0.0, 0.06));
  rgb += Noise(rng, 3, 0.02);
  return Clamp01(rgb);
}

cv::Mat ShiftRendition(const cv::Mat& grey, Rng& rng) {
  const int style = static_cast<int>(rng.Int(4));
  const double hue = rng.Uniform();
  cv::Mat shade;
  cv::pow(grey, 0.7, shade);
  switch (style) {
    case 0: {  // pop art: two saturated complementary colours
      return Clamp01(
          Blend(shade, Solid(Hsv(hue + 0.5, 0.7, 0.95)), Solid(Hsv(hue, 0.95, 1.0))));
    }
    case 1: {  // textile: stripes inside the silhouette on paper
      const double angle = rng.Uniform(0, kPi), period = rng.Uniform(3, 6);
      const cv::Vec3f a = Hsv(hue, 0.8, 0.9), b = Hsv(hue + 0.33, 0.8, 0.5);
      cv::Mat fg(kSize, kSize, CV_32FC3), mask;
      for (int y = 0; y < kSize; ++y) {
        for (int x = 0; x < kSize; ++x) {
          const double s =
              0.5 + 0.5 * std::sin(2 * kPi * (x * std::cos(angle) + y * std::sin(angle)) /
                                   period);
          const float g = 0.5f + 0.5f * grey.at<float>(y, x);
          fg.at<cv::Vec3f>(y, x) =
              (a * static_cast<float>(s) + b * static_cast<float>(1 - s)) * g;
        }
      }
      mask = Clamp01(grey * 4.0);
      return Clamp01(Blend(mask, Solid(cv::Vec3f(0.95f, 0.93f, 0.88f)), fg));
    }
    case 2: {  // chalkboard: chalk strokes on a dark board
      cv::Mat chalk = Clamp01(EdgeMagnitude(grey) * 1.5 + grey * 0.35);
      cv::Mat speck = UniformField(rng, 1);
      cv::Mat chalky = Clamp01(chalk.mul(0.7 + speck * 0.3));
      return Clamp01(Blend(chalky, Solid(Hsv(hue, 0.5, 0.25)),
                           Solid(cv::Vec3f(0.97f, 0.97f, 0.95f))));
    }
    default: {  // mosaic: 4x4 tiles of jittered colour with dark grout
      cv::Mat small, tiles;
      cv::resize(shade, small, cv::Size(8, 8), 0, 0, cv::INTER_AREA);
      cv::Mat out(kSize, kSize, CV_32FC3);
      for (int ty = 0; ty < 8; ++ty) {
        for (int tx = 0; tx < 8; ++tx) {
          const double v = small.at<float>(ty, tx);
          const cv::Vec3f c =
              v > 0.08 ? Hsv(hue + rng.Uniform(-0.06, 0.06), 0.8, 0.4 + 0.6 * v)
                       : Hsv(hue + 0.5, 0.3, 0.85 + rng.Uniform(-0.1, 0.1));
          for (int y = 0; y < 4; ++y) {
            for (int x = 0; x < 4; ++x) {
              out.at<cv::Vec3f>(ty * 4 + y, tx * 4 + x) =
                  (x == 3 || y == 3) ? cv::Vec3f(0.25f, 0.22f, 0.2f) : c;
            }
          }
        }
      }
      return Clamp01(out);
    }
  }
}

cv::Mat ShiftSketch(const cv::Mat& grey, Rng& rng) {
  // Black line drawing of the object's edges on white, as ImageNet-Sketch's drawings.
  cv::Mat blurred;
  cv::GaussianBlur(grey, blurred, cv::Size(0, 0), 0.6);
  cv::Mat lines = CannyEdges(blurred, 25, 70);
  const double ink = rng.Uniform(0.75, 1.0);
  cv::Mat g = 1.0 - lines * ink + Noise(rng, 1, 0.015);
  return Clamp01(GreyToRgb(Clamp01(g)));
}

cv::Mat ShiftObjectNet(const cv::Mat& grey, Rng& rng) {
  // Cluttered room background.
  cv::Mat bg = Solid(Hsv(rng.Uniform(), rng.Uniform(0.2, 0.5), rng.Uniform(0.4, 0.8)));
  const int shapes = 5 + static_cast<int>(rng.Int(5));
  for (int i = 0; i < shapes; ++i) {
    const cv::Vec3f c = Hsv(rng.Uniform(), rng.Uniform(0.2, 0.9), rng.Uniform(0.2, 1.0));
    const cv::Point p(static_cast<int>(rng.Int(kSize)), static_cast<int>(rng.Int(kSize)));
    const int r = 2 + static_cast<int>(rng.Int(8));
    if (rng.Uniform() < 0.5) {
      cv::rectangle(bg, p, p + cv::Point(r, static_cast<int>(rng.Int(10)) + 2),
                    cv::Scalar(c[0], c[1], c[2]), cv::FILLED);
    } else {
      cv::circle(bg, p, r, cv::Scalar(c[0], c[1], c[2]), cv::FILLED);
    }
  }
  cv::GaussianBlur(bg, bg, cv::Size(0, 0), 0.6);
  bg += Noise(rng, 3, 0.03);
  // The object at an unusual rotation, scale and position.
  const double angle = rng.Uniform(-75, 75), scale = rng.Uniform(0.55, 0.9);
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(15.5f, 15.5f), angle, scale);
  m.at<double>(0, 2) += rng.Uniform(-4, 4);
  m.at<double>(1, 2) += rng.Uniform(-4, 4);
  cv::Mat g;
  cv::warpAffine(grey, g, m, grey.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
  cv::Mat alpha = Clamp01(g * 3.0);
  const cv::Vec3f tint = Hsv(rng.Uniform(), rng.Uniform(0.1, 0.4), 1.0);
  cv::Mat obj = GreyToRgb(g);
  cv::multiply(obj, cv::Scalar(tint[0], tint[1], tint[2]), obj);
  return Clamp01(Blend(alpha, bg, obj));
}

cv::Mat ShiftCartoon(const cv::Mat& grey, Rng& rng) {
  // Flat posterised colour regions with dark outlines, as a cartoonising GAN draws.
  cv::Mat g8, smooth8, smooth;
  grey.convertTo(g8, CV_8U, 255.0);
  cv::medianBlur(g8, smooth8, 3);
  smooth8.convertTo(smooth, CV_32F, 1.0 / 255.0);
  const double hue = rng.Uniform();
  const cv::Vec3f bg = Hsv(rng.Uniform(), 0.25, 0.97);
  cv::Vec3f levels[4] = {bg, Hsv(hue, 0.85, 0.55), Hsv(hue, 0.8, 0.78),
                         Hsv(hue, 0.6, 1.0)};
  cv::Mat outline = CannyEdges(smooth, 40, 110);
  cv::Mat out(kSize, kSize, CV_32FC3);
  for (int y = 0; y < kSize; ++y) {
    for (int x = 0; x < kSize; ++x) {
      const float v = smooth.at<float>(y, x);
      const int level = v < 0.06f ? 0 : std::min(3, 1 + static_cast<int>(v * 3));
      out.at<cv::Vec3f>(y, x) =
          outline.at<float>(y, x) > 0.5f ? cv::Vec3f(0.08f, 0.06f, 0.06f) : levels[level];
    }
  }
  return out;
}

cv::Mat ShiftDrawing(const cv::Mat& grey, Rng& rng) {
  // Coloured-pencil drawing: contour strokes plus diagonal hatching whose density
  // follows the shading, on grainy paper.
  const cv::Vec3f pencil =
      Hsv(rng.Uniform(), rng.Uniform(0.4, 0.8), rng.Uniform(0.3, 0.6));
  const double angle = rng.Uniform(0.6, 1.0) * (rng.Uniform() < 0.5 ? 1 : -1);
  const double period = rng.Uniform(2.5, 3.5), phase = rng.Uniform(0, 3);
  cv::Mat edges = EdgeMagnitude(grey);
  cv::Mat grain = UniformField(rng, 1);
  cv::Mat out(kSize, kSize, CV_32FC3);
  const cv::Vec3f paper(0.97f, 0.95f, 0.89f);
  for (int y = 0; y < kSize; ++y) {
    for (int x = 0; x < kSize; ++x) {
      const double t = std::fmod(x * angle + y + phase + 100 * period, period) / period;
      const double hatch = t < 0.4 ? 1.0 : 0.15;
      const double g = grey.at<float>(y, x);
      double d =
          0.9 * edges.at<float>(y, x) + (g > 0.05 ? 0.55 * hatch * (0.4 + 0.6 * g) : 0.0);
      d *= 0.75 + 0.25 * grain.at<float>(y, x);
      d = std::min(1.0, d);
      const cv::Vec3f ink =
          cv::Vec3f(1, 1, 1) - (cv::Vec3f(1, 1, 1) - pencil) * static_cast<float>(d);
      out.at<cv::Vec3f>(y, x) =
          cv::Vec3f(paper[0] * ink[0], paper[1] * ink[1], paper[2] * ink[2]);
    }
  }
  return Clamp01(out);
}

cv::Mat Corrupt(const cv::Mat& rgb, int corruption, int severity, Rng& rng) {
  const int s = std::clamp(severity, 1, 5) - 1;
  cv::Mat x = rgb.clone();
  switch (corruption) {
    case 0: {  // gaussian_noise
      const double c[] = {0.08, 0.12, 0.18, 0.26, 0.38};
      return Clamp01(x + Noise(rng, 3, c[s]));
    }
    case 1: {  // shot_noise: Poisson(x * c) / c, normal approximation
      const double c[] = {60, 25, 12, 5, 3};
      cv::Mat n = Noise(rng, 3, 1.0), sd;
      cv::Mat var = cv::max(x, 0.0) / c[s];
      cv::add(var, cv::Scalar::all(1e-4),
              var);  // all channels (a bare double is channel 0 only)
      cv::sqrt(var, sd);
      return Clamp01(x + n.mul(sd));
    }
    case 2: {  // impulse_noise (salt and pepper)
      const double c[] = {0.03, 0.06, 0.09, 0.17, 0.27};
      cv::Mat u = UniformField(rng, 3);
      float* p = x.ptr<float>();
      const float* q = u.ptr<float>();
      for (size_t i = 0; i < x.total() * 3; ++i) {
        if (q[i] < c[s] / 2)
          p[i] = 0.0f;
        else if (q[i] > 1 - c[s] / 2)
          p[i] = 1.0f;
      }
      return x;
    }
    case 3: {  // defocus_blur: an antialiased disk kernel
      const double r[] = {1.0, 1.5, 2.0, 2.5, 3.0};
      const int k = 2 * static_cast<int>(std::ceil(r[s])) + 1;
      cv::Mat kern(k, k, CV_32F);
      for (int y = 0; y < k; ++y)
        for (int xx = 0; xx < k; ++xx) {
          const double d = std::hypot(xx - k / 2, y - k / 2);
          kern.at<float>(y, xx) =
              static_cast<float>(std::clamp(r[s] + 0.5 - d, 0.0, 1.0));
        }
      kern /= cv::sum(kern)[0];
      cv::filter2D(x, x, -1, kern, cv::Point(-1, -1), 0, cv::BORDER_REFLECT);
      return Clamp01(x);
    }
    case 4: {  // glass_blur: blur, then every pixel displaced by up to d px, blur again
      // (ImageNet-C swaps neighbouring pixels; a displacement field with one random draw
      // per pixel, scaled by severity, does the same and grows strictly with d.)
      const double d[] = {0.8, 1.2, 1.6, 2.0, 2.5};
      cv::GaussianBlur(x, x, cv::Size(0, 0), 0.4);
      cv::Mat u = UniformField(rng, 1) * 2 - 1, v = UniformField(rng, 1) * 2 - 1;
      cv::Mat mapx(kSize, kSize, CV_32F), mapy(kSize, kSize, CV_32F);
      for (int y = 0; y < kSize; ++y)
        for (int xx = 0; xx < kSize; ++xx) {
          mapx.at<float>(y, xx) = static_cast<float>(xx + d[s] * u.at<float>(y, xx));
          mapy.at<float>(y, xx) = static_cast<float>(y + d[s] * v.at<float>(y, xx));
        }
      cv::remap(x, x, mapx, mapy, cv::INTER_LINEAR, cv::BORDER_REFLECT);
      cv::GaussianBlur(x, x, cv::Size(0, 0), 0.4);
      return Clamp01(x);
    }
    case 5: {  // motion_blur
      const double len[] = {3, 4.5, 6, 8, 10};
      const double angle = rng.Uniform(-45, 45);
      cv::filter2D(x, x, -1, LineKernel(len[s], angle), cv::Point(-1, -1), 0,
                   cv::BORDER_REFLECT);
      return Clamp01(x);
    }
    case 6: {  // zoom_blur: mean of increasingly zoomed copies
      const double zmax[] = {1.08, 1.14, 1.20, 1.26, 1.33};
      cv::Mat acc = x.clone();
      int n = 1;
      for (double z = 1.02; z <= zmax[s] + 1e-9; z += 0.02, ++n) {
        cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(15.5f, 15.5f), 0, z), zoomed;
        cv::warpAffine(x, zoomed, m, x.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
        acc += zoomed;
      }
      return Clamp01(acc / n);
    }
    case 7: {  // snow: whitened scene plus falling, motion-blurred flakes
      const double density[] = {0.04, 0.07, 0.10, 0.14, 0.18};
      const double whiten[] = {0.1, 0.2, 0.3, 0.35, 0.4};
      const double len[] = {2, 3, 4, 5, 6};
      cv::Mat u = UniformField(rng, 1), flakes;
      cv::threshold(u, flakes, 1.0 - density[s], 1.0, cv::THRESH_BINARY);
      const double angle = rng.Uniform(60, 120);
      cv::filter2D(flakes, flakes, -1, LineKernel(len[s], angle));
      flakes = Clamp01(flakes * 1.5);
      cv::Mat base;
      cv::addWeighted(x, 1 - whiten[s], x, 0.0, 0.8 * whiten[s], base);
      cv::Mat f3 = GreyToRgb(flakes), room;
      cv::subtract(cv::Scalar::all(1.0), base, room);
      return Clamp01(base + f3.mul(room));
    }
    case 8: {  // frost: an ice-crystal texture over a dimmed scene
      const double c0[] = {1.0, 0.9, 0.8, 0.75, 0.7};
      const double c1[] = {0.35, 0.5, 0.6, 0.7, 0.8};
      cv::Mat ice = OctaveNoise(rng, 0.7);
      for (int i = 0; i < 12; ++i) {
        const cv::Point a(static_cast<int>(rng.Int(kSize)),
                          static_cast<int>(rng.Int(kSize)));
        const cv::Point b = a + cv::Point(static_cast<int>(rng.Int(13)) - 6,
                                          static_cast<int>(rng.Int(13)) - 6);
        cv::line(ice, a, b, cv::Scalar(1.0), 1);
      }
      cv::GaussianBlur(ice, ice, cv::Size(0, 0), 0.5);
      cv::Mat frost = GreyToRgb(ice);
      cv::multiply(frost, cv::Scalar(0.85, 0.93, 1.0), frost);
      return Clamp01(x * c0[s] + frost * c1[s]);
    }
    case 9: {  // fog
      const double c0[] = {0.2, 0.5, 0.75, 1.0, 1.5};
      cv::Mat fog = GreyToRgb(OctaveNoise(rng, 0.6));
      double mx;
      cv::minMaxLoc(x.reshape(1), nullptr, &mx);
      x = (x + fog * c0[s]) * (mx / (mx + c0[s]));
      return Clamp01(x);
    }
    case 10: {  // brightness: V channel of HSV up by c
      const double c[] = {0.1, 0.2, 0.3, 0.4, 0.5};
      cv::Mat hsv;
      cv::cvtColor(x, hsv, cv::COLOR_RGB2HSV);
      std::vector<cv::Mat> ch;
      cv::split(hsv, ch);
      ch[2] = Clamp01(ch[2] + c[s]);
      cv::merge(ch, hsv);
      cv::cvtColor(hsv, x, cv::COLOR_HSV2RGB);
      return Clamp01(x);
    }
    case 11: {  // contrast
      const double c[] = {0.4, 0.3, 0.2, 0.1, 0.05};
      const cv::Scalar m = cv::mean(x);
      const double mean = (m[0] + m[1] + m[2]) / 3;
      cv::Mat out;
      cv::addWeighted(x, c[s], x, 0.0, mean * (1 - c[s]), out);
      return Clamp01(out);
    }
    case 12: {  // elastic_transform: smooth random displacement field
      const double alpha[] = {1.0, 1.6, 2.2, 2.8, 3.5};
      cv::Mat dx = UniformField(rng, 1) * 2 - 1, dy = UniformField(rng, 1) * 2 - 1;
      cv::GaussianBlur(dx, dx, cv::Size(0, 0), 2.5);
      cv::GaussianBlur(dy, dy, cv::Size(0, 0), 2.5);
      double mx1, mx2, mn1, mn2;
      cv::minMaxLoc(dx, &mn1, &mx1);
      cv::minMaxLoc(dy, &mn2, &mx2);
      const double norm = std::max({std::fabs(mn1), mx1, std::fabs(mn2), mx2, 1e-6});
      cv::Mat mapx(kSize, kSize, CV_32F), mapy(kSize, kSize, CV_32F);
      for (int y = 0; y < kSize; ++y)
        for (int xx = 0; xx < kSize; ++xx) {
          mapx.at<float>(y, xx) =
              static_cast<float>(xx + alpha[s] * dx.at<float>(y, xx) / norm);
          mapy.at<float>(y, xx) =
              static_cast<float>(y + alpha[s] * dy.at<float>(y, xx) / norm);
        }
      cv::remap(x, x, mapx, mapy, cv::INTER_LINEAR, cv::BORDER_REFLECT);
      return Clamp01(x);
    }
    case 13: {                                 // pixelate
      const int sizes[] = {16, 12, 10, 8, 6};  // of 32 (ImageNet-C: 0.6 .. 0.25 of 224)
      const int n = sizes[s];
      cv::Mat small;
      cv::resize(x, small, cv::Size(n, n), 0, 0, cv::INTER_AREA);
      cv::resize(small, x, cv::Size(kSize, kSize), 0, 0, cv::INTER_NEAREST);
      return Clamp01(x);
    }
    default: {  // jpeg_compression
      const int q[] = {25, 18, 15, 10, 7};
      cv::Mat u8, bgr;
      x.convertTo(u8, CV_8U, 255.0);
      cv::cvtColor(u8, bgr, cv::COLOR_RGB2BGR);
      std::vector<uchar> buf;
      cv::imencode(".jpg", bgr, buf, {cv::IMWRITE_JPEG_QUALITY, q[s]});
      cv::Mat dec = cv::imdecode(buf, cv::IMREAD_COLOR), rgbout;
      cv::cvtColor(dec, rgbout, cv::COLOR_BGR2RGB);
      rgbout.convertTo(x, CV_32F, 1.0 / 255.0);
      return x;
    }
  }
}

}  // namespace rib::data::internal
