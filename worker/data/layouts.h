// Internal: the real benchmark's folder layouts (DESIGN §4.1; the folders are
// spec/data_layout.h's).
#ifndef RIB_WORKER_DATA_LAYOUTS_H_
#define RIB_WORKER_DATA_LAYOUTS_H_

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/data/source.h"

namespace rib::data::internal {

// Whether a file name has one of the image extensions the layouts read (any case).
bool IsImageFile(const std::filesystem::path& p);

// Whether `key`'s images are ImageNet val photos or renderings of them under the photos'
// file names (imagenet-val, imagenet-c, imagenet-c-extra, imagenet-cartoon,
// imagenet-drawing): their examples carry Example::photo.
bool RendersImageNetValPhotos(const std::string& key);

absl::StatusOr<std::unique_ptr<DatasetSource>> OpenImageNetLayout(
    const std::string& key, const DatasetOptions& options);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_LAYOUTS_H_
