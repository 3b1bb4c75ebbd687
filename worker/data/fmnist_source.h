// Internal: the DatasetSource of an FMNIST-RIB dataset (an in-memory .bin file).
#ifndef RIB_WORKER_DATA_FMNIST_SOURCE_H_
#define RIB_WORKER_DATA_FMNIST_SOURCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/source.h"

namespace rib::data::internal {

absl::StatusOr<std::unique_ptr<DatasetSource>> OpenFmnistDataset(
    const std::string& key, const FmnistManifest& manifest,
    const DatasetOptions& options);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_FMNIST_SOURCE_H_
