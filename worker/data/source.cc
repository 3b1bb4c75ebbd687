#include "worker/data/source.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "spec/suites.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/fmnist_source.h"
#include "worker/data/image.h"
#include "worker/data/layouts.h"

namespace rib::data {
namespace fs = std::filesystem;

namespace {

bool IsFmnistKey(const std::string& key) {
  return spec::DatasetSuite(key) == "fmnist-rib";
}

}  // namespace

absl::StatusOr<std::unique_ptr<DatasetSource>> OpenDataset(
    const std::string& key, const DatasetOptions& options) {
  RIB_RETURN_IF_ERROR(ValidateName(key, "dataset key"));
  RIB_RETURN_IF_ERROR(ValidatePreprocessing(options.preprocessing));
  if (options.data_root.empty()) return absl::InvalidArgumentError("data_root is empty");
  if (!spec::IsDatasetKey(key)) {
    return absl::NotFoundError(absl::StrCat("unknown dataset key '", key, "'"));
  }
  if (IsFmnistKey(key)) {
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

}  // namespace rib::data
