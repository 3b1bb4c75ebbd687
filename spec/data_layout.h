// The data root layout: where each dataset of the catalog (spec/suites.h) lives under a
// data root (DESIGN §4.1). The one place that spells these folders: the data library
// opens them, the agent advertises the datasets it finds (torch-free), rib-data lists
// them.
//
//   <root>/imagenet/val/                                   imagenet-val
//   <root>/imagenet-v2/imagenetv2-matched-frequency-format-val/
//   <root>/objectnet-1.0/                                  objectnet
//   <root>/<key>/                                          imagenet-a, -r, -sketch, ...
//   <root>/fmnist-rib/v<version>[-<variant>]/              the embedded FMNIST-RIB suite,
//                                                          built on first use from
//                                                          kFmnistSourceDir
//
// Thread-safety: pure functions, except ListAvailableDatasets (reads the file system).
#ifndef RIB_SPEC_DATA_LAYOUT_H_
#define RIB_SPEC_DATA_LAYOUT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rib::spec {

// Version of the FMNIST-RIB recipe: part of its folder name and its manifest.
inline constexpr int kFmnistRibVersion = 1;
// Where the dataset-fashion-mnist package puts the Fashion-MNIST files.
inline constexpr char kFmnistSourceDir[] = "/usr/share/datasets/fashion-mnist";

// The folder of an ImageNet-layout dataset relative to the data root ("imagenet/val",
// "objectnet-1.0", otherwise the key itself). Not meaningful for FMNIST-RIB keys.
std::string DatasetFolder(absl::string_view key);

// <root>/fmnist-rib/v<version>: the folder of the default FMNIST-RIB build (variants
// with other options add "-<hash of the options>", worker/data/fmnist_rib.h).
std::string FmnistRibDefaultDir(absl::string_view data_root);

// The catalog's dataset keys present under `data_root`, in catalog order: an
// ImageNet-layout key when its folder exists; every FMNIST-RIB key when the default
// build exists or can be built (the Fashion-MNIST files are at `fmnist_source_dir`).
// Empty for a missing root.
std::vector<std::string> ListAvailableDatasets(
    const std::string& data_root, const std::string& fmnist_source_dir = kFmnistSourceDir);

}  // namespace rib::spec

#endif  // RIB_SPEC_DATA_LAYOUT_H_
