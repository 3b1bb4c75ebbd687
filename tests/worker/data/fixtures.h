// Test helpers for worker/data: small image files and fixture trees.
#ifndef RIB_TESTS_WORKER_DATA_FIXTURES_H_
#define RIB_TESTS_WORKER_DATA_FIXTURES_H_

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "spec/data_layout.h"
#include "tests/testing/test_env.h"
#include "worker/data/imagenet_classes.h"
#include "worker/data/source.h"

namespace rib::data::testing {

// Writes a w x h image of one RGB colour (JPEG or PNG by extension); creates folders.
inline void WriteImage(const std::string& path, int w = 12, int h = 10,
                       cv::Vec3b rgb = cv::Vec3b(200, 100, 50)) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(rgb[2], rgb[1], rgb[0]));  // OpenCV is BGR
  cv::imwrite(path, img);
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

inline std::string ImageNetDir() { return rib::testing::SharedDataDir() + "/imagenet"; }

// Options for opening a generated root: 8 x 8 tensors, no crop (the fixture images are
// a few pixels wide).
inline DatasetOptions TinyImageOptions(const std::string& data_root) {
  DatasetOptions o;
  o.data_root = data_root;
  o.preprocessing.image_size = 8;
  o.preprocessing.crop_pct = 1.0;
  return o;
}

// The file stem of ImageNet val photo n (1..50000), as published.
inline std::string ValPhoto(int n) { return absl::StrFormat("ILSVRC2012_val_%08d", n); }

// TinyImageOptions with a 30% test split seeded by `seed`: the photo-split fixtures'.
inline DatasetOptions PhotoSplitOptions(const std::string& data_root, int64_t seed) {
  DatasetOptions o = TinyImageOptions(data_root);
  o.test_fraction = 0.3;
  o.seed = seed;
  return o;
}

// `classes` ImageNet classes (wnids ImageNet1kWnids()[stride * c + offset]) and val
// photos 1..n dealt to them as ImageNet val interleaves them (photo k to class
// k % classes): photos[c] holds class c's photo numbers.
struct ValPhotoSet {
  std::vector<std::string> wnids;
  std::vector<std::vector<int>> photos;
};
inline ValPhotoSet InterleavedValPhotos(int classes, int stride, int offset, int n) {
  ValPhotoSet out;
  for (int c = 0; c < classes; ++c)
    out.wnids.push_back(ImageNet1kWnids()[stride * c + offset]);
  out.photos.resize(classes);
  for (int k = 1; k <= n; ++k) out.photos[k % classes].push_back(k);
  return out;
}

// Writes <root>/imagenet-c/<c>/<1..5>/<wnid>/<photo>.JPEG for every corruption in
// `corruptions`, every wnid and every photo number of photos_of[wnid index] (4 x 4 px).
inline void WriteImageNetC(const std::string& root, const std::vector<std::string>& corruptions,
                           const std::vector<std::string>& wnids,
                           const std::vector<std::vector<int>>& photos_of) {
  for (const auto& c : corruptions)
    for (int s = 1; s <= spec::kImageNetCSeverities; ++s)
      for (size_t w = 0; w < wnids.size(); ++w)
        for (int n : photos_of[w])
          WriteImage(root + "/imagenet-c/" + c + "/" + std::to_string(s) + "/" + wnids[w] +
                         "/" + ValPhoto(n) + ".JPEG",
                     4, 4);
}

}  // namespace rib::data::testing

#endif  // RIB_TESTS_WORKER_DATA_FIXTURES_H_
