// Test helpers for worker/data: small image files and fixture trees.
#ifndef RIB_TESTS_WORKER_DATA_FIXTURES_H_
#define RIB_TESTS_WORKER_DATA_FIXTURES_H_

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "tests/testing/test_env.h"

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

}  // namespace rib::data::testing

#endif  // RIB_TESTS_WORKER_DATA_FIXTURES_H_
