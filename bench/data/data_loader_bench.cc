// rib-bench-data: the loader side of bench/data/run.sh.
//   rib-bench-data generate --dir DIR [--count 2000] [--seed 0]
//       writes DIR/imagenet-sketch/<wnid>/*.JPEG (ImageNet-sized, seeded content) and
//       DIR/classes.txt
//   rib-bench-data run --dir DIR [--threads N] [--batch 64] [--epochs 2] [--dump K]
//       decodes + preprocesses every image through BatchLoader (Resize(256) bicubic,
//       CenterCrop(224), ImageNet mean/std) and prints "rib_images_per_s <v>"; with
//       --dump K also writes the first K preprocessed images (float32, [K,3,224,224]) as
//       DIR/out/rib_{pil,aten,opencv}.f32 for the pixel comparison.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "worker/data/image.h"
#include "worker/data/loader.h"
#include "worker/data/rng.h"
#include "worker/data/source.h"

namespace {

namespace fs = std::filesystem;
using rib::data::internal::Rng;

const char* kWnids[] = {"n01440764", "n01443537", "n01484850", "n01491361", "n01494475",
                        "n01496331", "n01498041", "n01514668", "n01514859", "n01518878"};

int Generate(const std::string& dir, int count, int64_t seed) {
  const std::string root = dir + "/imagenet-sketch";
  std::ofstream classes(dir + "/classes.txt");
  for (const char* w : kWnids) {
    classes << w << "\n";
    fs::create_directories(root + "/" + w);
  }
  const cv::Size sizes[] = {{500, 375}, {375, 500}, {500, 333}, {640, 480}, {500, 400}};
  for (int i = 0; i < count; ++i) {
    Rng rng(static_cast<uint64_t>(seed), static_cast<uint64_t>(i));
    const cv::Size size = sizes[rng.Int(5)];
    // A smooth background gradient, shapes, and sensor-like noise: content with both
    // flat areas and edges, which JPEG and the resampler both care about.
    cv::Mat img(size, CV_8UC3);
    const double a = rng.Uniform(0, 255), b = rng.Uniform(0, 255),
                 c = rng.Uniform(0, 255);
    const double fx = rng.Uniform(0.2, 1.0), fy = rng.Uniform(0.2, 1.0);
    for (int y = 0; y < size.height; ++y) {
      auto* p = img.ptr<cv::Vec3b>(y);
      for (int x = 0; x < size.width; ++x) {
        p[x] =
            cv::Vec3b(cv::saturate_cast<uchar>(a + 60 * std::sin(x * fx / 40.0)),
                      cv::saturate_cast<uchar>(b + 60 * std::cos(y * fy / 35.0)),
                      cv::saturate_cast<uchar>(c * (x + y) / (size.width + size.height)));
      }
    }
    for (int k = 0; k < 12; ++k) {
      const cv::Scalar col(rng.Uniform(0, 255), rng.Uniform(0, 255), rng.Uniform(0, 255));
      const cv::Point p(static_cast<int>(rng.Int(size.width)),
                        static_cast<int>(rng.Int(size.height)));
      if (k % 2) {
        cv::circle(img, p, 5 + static_cast<int>(rng.Int(60)), col, cv::FILLED,
                   cv::LINE_AA);
      } else {
        cv::line(img, p,
                 p + cv::Point(static_cast<int>(rng.Int(200)) - 100,
                               static_cast<int>(rng.Int(200)) - 100),
                 col, 1 + static_cast<int>(rng.Int(6)), cv::LINE_AA);
      }
    }
    cv::Mat noise(size, CV_8UC3);
    cv::theRNG().state = static_cast<uint64_t>(seed * 7919 + i + 1);
    cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(6));
    img += noise;
    const std::string path = absl::StrCat(root, "/", kWnids[i % 10], "/img_",
                                          std::to_string(100000 + i), ".JPEG");
    cv::imwrite(path, img, {cv::IMWRITE_JPEG_QUALITY, 90});
  }
  std::printf("wrote %d JPEGs under %s\n", count, root.c_str());
  return 0;
}

void Dump(const std::string& path, const std::vector<torch::Tensor>& images) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& t : images) {
    auto c = t.contiguous();
    out.write(reinterpret_cast<const char*>(c.data_ptr<float>()),
              c.numel() * sizeof(float));
  }
}

int Run(const std::string& dir, int threads, int batch, int epochs, int dump) {
  rib::data::DatasetOptions opts;
  opts.data_root = dir;
  opts.class_list_file = dir + "/classes.txt";
  opts.preprocessing.image_size = 224;
  opts.preprocessing.crop_pct = 0.875;
  opts.preprocessing.mean = {0.485, 0.456, 0.406};
  opts.preprocessing.std = {0.229, 0.224, 0.225};
  auto src = rib::data::OpenDataset("imagenet-sketch", opts);
  if (!src.ok()) {
    std::fprintf(stderr, "%s\n", src.status().ToString().c_str());
    return 1;
  }
  const auto& examples = (*src)->examples();
  double best = 1e30, best_cpu = 1e30;
  auto cpu_seconds = [] {
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  };
  for (int e = 0; e < epochs; ++e) {
    const double cpu0 = cpu_seconds();
    rib::data::LoaderOptions lo;
    lo.batch_size = batch;
    lo.threads = threads;
    lo.prefetch_batches = 4;
    const auto start = std::chrono::steady_clock::now();
    auto loader = rib::data::BatchLoader::Create(src->get(), examples, lo);
    if (!loader.ok()) return 1;
    rib::data::Batch b;
    int64_t n = 0;
    while (true) {
      auto more = (*loader)->Next(&b);
      if (!more.ok()) {
        std::fprintf(stderr, "%s\n", more.status().ToString().c_str());
        return 1;
      }
      if (!*more) break;
      n += b.images.size(0);
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, secs);
    best_cpu = std::min(best_cpu, cpu_seconds() - cpu0);
    std::fprintf(stderr, "rib epoch %d: %lld images in %.2f s\n", e,
                 static_cast<long long>(n), secs);
  }
  std::printf("rib_images_per_s %.1f\nrib_cpu_ms_per_image %.3f\nrib_images %zu\n",
              examples.size() / best, 1e3 * best_cpu / examples.size(), examples.size());
  if (dump > 0) {
    fs::create_directories(dir + "/out");
    std::map<std::string, std::vector<torch::Tensor>> outs;
    for (int i = 0; i < dump && i < static_cast<int>(examples.size()); ++i) {
      auto rgb = rib::data::DecodeImageFile(examples[i].path);
      if (!rgb.ok()) return 1;
      for (const std::string backend : {"pil", "aten", "opencv"}) {
        outs[backend].push_back(
            rib::data::PreprocessImage(*rgb, opts.preprocessing, backend));
      }
    }
    for (const auto& [backend, images] : outs)
      Dump(dir + "/out/rib_" + backend + ".f32", images);
  }
  return 0;
}

// Per-stage cost on one thread (decode, resize+crop+normalise), for tuning.
int Profile(const std::string& dir, int count) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir + "/imagenet-sketch"))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (static_cast<int>(files.size()) > count) files.resize(count);
  rib::Preprocessing p;
  p.image_size = 224;
  p.crop_pct = 0.875;
  double decode = 0, pre = 0, aten = 0;
  // Thread CPU time: stable on a machine shared with other work.
  auto cpu = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  };
  for (const auto& f : files) {
    const double t0 = cpu();
    auto rgb = rib::data::DecodeImageFile(f);
    const double t1 = cpu();
    auto t = rib::data::PreprocessImage(*rgb, p);
    const double t2 = cpu();
    auto ta = rib::data::PreprocessImage(*rgb, p, "aten");
    const double t3 = cpu();
    decode += t1 - t0;
    pre += t2 - t1;
    aten += t3 - t2;
  }
  const double n = static_cast<double>(files.size());
  std::printf(
      "per image (1 thread): decode %.2f ms, pil-resize+crop+normalise %.2f ms, "
      "aten path %.2f ms\n",
      1e3 * decode / n, 1e3 * pre / n, 1e3 * aten / n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: rib-bench-data generate|run --dir DIR [...]\n");
    return 2;
  }
  std::map<std::string, std::string> f;
  for (int i = 2; i + 1 < argc; i += 2) f[std::string(argv[i]).substr(2)] = argv[i + 1];
  auto get = [&](const std::string& k, const std::string& d) {
    return f.count(k) ? f[k] : d;
  };
  const std::string cmd = argv[1];
  if (get("dir", "").empty()) return 2;
  if (cmd == "generate")
    return Generate(f["dir"], std::stoi(get("count", "2000")),
                    std::stoll(get("seed", "0")));
  if (cmd == "profile") return Profile(f["dir"], std::stoi(get("count", "200")));
  if (cmd == "run") {
    return Run(f["dir"], std::stoi(get("threads", "2")), std::stoi(get("batch", "64")),
               std::stoi(get("epochs", "2")), std::stoi(get("dump", "0")));
  }
  return 2;
}
