// The data root layout: where each dataset of the catalog (spec/suites.h) lives under a
// data root (DESIGN §4.1), as the datasets are downloaded. The one place that spells
// these folders and file names: the data library opens them, the agent advertises the
// datasets it finds (torch-free), rib-data lists and checks them.
//
//   <root>/imagenet/val/<wnid>/*                           imagenet-val (class folders)
//   <root>/imagenet/val/ILSVRC2012_val_*.JPEG              ... or flat, as downloaded,
//     + <root>/imagenet/LOC_val_solution.csv               with Kaggle's solution file
//     | <root>/imagenet/ILSVRC2012_validation_ground_truth.txt   or the devkit's ids
//       + <root>/imagenet/ILSVRC2012_id_to_wnid.txt        and their wnids (see README)
//   <root>/imagenet-v2/imagenetv2-matched-frequency-format-val/<0..999>/*
//   <root>/objectnet-1.0/                                  objectnet
//   <root>/imagenet-sketch/ or <root>/sketch/              imagenet-sketch
//   <root>/imagenet-c/<corruption>/<1..5>/<wnid>/*         imagenet-c, imagenet-c-extra
//   <root>/<key>/                                          imagenet-a, -r, -cartoon, ...
//   <root>/fmnist-rib/v<version>[-<variant>]/              the embedded FMNIST-RIB suite,
//                                                          built on first use from
//                                                          kFmnistSourceDir
//
// Thread-safety: pure functions, except those that read the file system (they say so).
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

// Labels of a flat imagenet/val (relative to the data root). Kaggle's
// "ImageId,PredictionString" file, the wnid first in each prediction string:
inline constexpr char kImageNetValSolutionCsv[] = "imagenet/LOC_val_solution.csv";
// The devkit's ground truth: line i holds the ILSVRC2012 ID (1..1000) of
// ILSVRC2012_val_<i, 8 digits>. Those IDs are not class indices; with it rib needs
// kImageNetIdToWnid, line k = the wnid of ILSVRC2012 ID k (the devkit's meta.mat).
inline constexpr char kImageNetValGroundTruth[] =
    "imagenet/ILSVRC2012_validation_ground_truth.txt";
inline constexpr char kImageNetIdToWnid[] = "imagenet/ILSVRC2012_id_to_wnid.txt";

// ImageNet-C's severities are the folders 1..kImageNetCSeverities of each corruption.
inline constexpr int kImageNetCSeverities = 5;
// The 15 benchmark corruptions of ImageNet-C in the standard order (hendrycks/robustness
// corruption_tuple; the list FieteLab/ImageNet-RIB lib/evaluate.py evaluates): the key
// imagenet-c needs all 15 x 5 subsets.
const std::vector<std::string>& ImageNetCCorruptions();
// The 4 extra ("validation") corruptions of the same download: the key
// imagenet-c-extra (4 x 5 subsets), never averaged into imagenet-c.
const std::vector<std::string>& ImageNetCExtraCorruptions();

// The folders that may hold an ImageNet-layout dataset relative to the data root,
// preferred first: "imagenet/val", "objectnet-1.0", "imagenet-sketch" then "sketch"
// (the name ImageNet-Sketch's archive unpacks to), "imagenet-c" for imagenet-c-extra,
// otherwise the key itself. Not meaningful for FMNIST-RIB keys.
std::vector<std::string> DatasetFolderCandidates(absl::string_view key);
// The preferred folder: DatasetFolderCandidates(key).front().
std::string DatasetFolder(absl::string_view key);
// The first candidate folder that exists under `data_root` (relative), or "" when none
// does. Reads the file system.
std::string FindDatasetFolder(const std::string& data_root, absl::string_view key);

// <root>/fmnist-rib/v<version>: the folder of the default FMNIST-RIB build (variants
// with other options add "-<hash of the options>", worker/data/fmnist_rib.h).
std::string FmnistRibDefaultDir(absl::string_view data_root);

// The catalog's dataset keys present under `data_root`, in catalog order: an
// ImageNet-layout key when its folder exists (imagenet-c-extra: when one of its
// corruption folders does); every FMNIST-RIB key when the default build exists or can
// be built (the Fashion-MNIST files are at `fmnist_source_dir`). Empty for a missing
// root. Reads the file system.
std::vector<std::string> ListAvailableDatasets(
    const std::string& data_root, const std::string& fmnist_source_dir = kFmnistSourceDir);

}  // namespace rib::spec

#endif  // RIB_SPEC_DATA_LAYOUT_H_
