#include "worker/data/source.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/fmnist_source.h"
#include "worker/data/image.h"
#include "worker/data/layouts.h"

namespace rib::data {
namespace fs = std::filesystem;

const std::vector<std::string>& AllDatasetKeys() {
  static const auto* keys = [] {
    auto* k = new std::vector<std::string>{
        "imagenet-val",     "imagenet-v2",     "imagenet-a",
        "imagenet-r",       "imagenet-sketch", "imagenet-cartoon",
        "imagenet-drawing", "imagenet-c",      "objectnet"};
    for (const auto& f : FmnistKeys()) k->push_back(f);
    return k;
  }();
  return *keys;
}

absl::StatusOr<std::unique_ptr<DatasetSource>> OpenDataset(
    const std::string& key, const DatasetOptions& options) {
  RIB_RETURN_IF_ERROR(ValidateName(key, "dataset key"));
  RIB_RETURN_IF_ERROR(ValidatePreprocessing(options.preprocessing));
  if (options.data_root.empty()) return absl::InvalidArgumentError("data_root is empty");
  bool known = false;
  for (const auto& k : AllDatasetKeys()) known |= k == key;
  if (!known) return absl::NotFoundError(absl::StrCat("unknown dataset key '", key, "'"));
  if (absl::StartsWith(key, "fmnist-")) {
    // The suite is built on first use and cached under the data root.
    std::error_code ec;
    if (!fs::is_directory(options.data_root, ec)) {
      return absl::NotFoundError(
          absl::StrCat("data root not found: ", options.data_root));
    }
    RIB_ASSIGN_OR_RETURN(FmnistManifest manifest, BuildFmnistRib(options.data_root, {}));
    return internal::OpenFmnistDataset(key, manifest, options);
  }
  return internal::OpenImageNetLayout(key, options);
}

std::vector<std::string> ListAvailableDatasets(const std::string& data_root) {
  std::vector<std::string> out;
  std::error_code ec;
  if (data_root.empty() || !fs::is_directory(data_root, ec)) return out;
  const FmnistRibOptions defaults;
  const bool fmnist =
      fs::exists(FmnistRibDir(data_root, defaults) + "/manifest.txt", ec) ||
      fs::exists(defaults.source_dir + "/t10k-images-idx3-ubyte.gz", ec);
  for (const auto& key : AllDatasetKeys()) {
    if (absl::StartsWith(key, "fmnist-")) {
      if (fmnist) out.push_back(key);
    } else if (fs::is_directory(fs::path(data_root) / internal::LayoutFolder(key), ec)) {
      out.push_back(key);
    }
  }
  return out;
}

}  // namespace rib::data
