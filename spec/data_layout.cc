#include "spec/data_layout.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "spec/suites.h"

namespace rib::spec {
namespace fs = std::filesystem;

std::string DatasetFolder(absl::string_view key) {
  if (key == "imagenet-val") return "imagenet/val";
  if (key == "imagenet-v2") return "imagenet-v2/imagenetv2-matched-frequency-format-val";
  if (key == "objectnet") return "objectnet-1.0";
  return std::string(key);  // imagenet-a, -r, -sketch, -cartoon, -drawing, -c
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
    } else if (fs::is_directory(fs::path(data_root) / DatasetFolder(key), ec)) {
      out.push_back(key);
    }
  }
  return out;
}

}  // namespace rib::spec
