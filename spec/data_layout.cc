#include "spec/data_layout.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "spec/suites.h"

namespace rib::spec {
namespace fs = std::filesystem;

const std::vector<std::string>& ImageNetCCorruptions() {
  static const auto* names = new std::vector<std::string>{
      "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
      "motion_blur",    "zoom_blur",  "snow",          "frost",        "fog",
      "brightness",     "contrast",   "elastic_transform", "pixelate", "jpeg_compression"};
  return *names;
}

const std::vector<std::string>& ImageNetCExtraCorruptions() {
  static const auto* names =
      new std::vector<std::string>{"speckle_noise", "gaussian_blur", "spatter", "saturate"};
  return *names;
}

std::vector<std::string> DatasetFolderCandidates(absl::string_view key) {
  if (key == "imagenet-val") return {"imagenet/val"};
  if (key == "imagenet-v2") return {"imagenet-v2/imagenetv2-matched-frequency-format-val"};
  if (key == "objectnet") return {"objectnet-1.0"};
  if (key == "imagenet-sketch") return {"imagenet-sketch", "sketch"};
  if (key == "imagenet-c-extra") return {"imagenet-c"};
  return {std::string(key)};  // imagenet-a, -r, -cartoon, -drawing, -c
}

std::string DatasetFolder(absl::string_view key) {
  return DatasetFolderCandidates(key).front();
}

std::string FindDatasetFolder(const std::string& data_root, absl::string_view key) {
  std::error_code ec;
  for (const std::string& folder : DatasetFolderCandidates(key)) {
    if (fs::is_directory(fs::path(data_root) / folder, ec)) return folder;
  }
  return "";
}

std::string FmnistRibDefaultDir(absl::string_view data_root) {
  return (fs::path(std::string(data_root)) / "fmnist-rib" /
          absl::StrCat("v", kFmnistRibVersion))
      .lexically_normal()
      .string();
}

std::vector<std::string> ListAvailableDatasets(const std::string& data_root,
                                               const std::string& fmnist_source_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (data_root.empty() || !fs::is_directory(data_root, ec)) return out;
  const bool fmnist =
      fs::exists(FmnistRibDefaultDir(data_root) + "/manifest.txt", ec) ||
      fs::exists(fmnist_source_dir + "/t10k-images-idx3-ubyte.gz", ec);
  for (const auto& key : AllDatasetKeys()) {
    if (DatasetSuite(key) == "fmnist-rib") {
      if (fmnist) out.push_back(key);
      continue;
    }
    const std::string folder = FindDatasetFolder(data_root, key);
    if (folder.empty()) continue;
    if (key == "imagenet-c-extra") {
      // The extras share imagenet-c/ with the 15: present only with one of their own.
      bool any = false;
      for (const auto& c : ImageNetCExtraCorruptions())
        any = any || fs::is_directory(fs::path(data_root) / folder / c, ec);
      if (!any) continue;
    }
    out.push_back(key);
  }
  return out;
}

}  // namespace rib::spec
