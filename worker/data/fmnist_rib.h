// FMNIST-RIB (DESIGN §4.2): the embedded miniature of ImageNet-RIB, generated
// deterministically from the Fashion-MNIST files of the dataset-fashion-mnist package.
//
// Layout: <data_root>/fmnist-rib/v<version>[-<variant>]/{manifest.txt, <key>.bin}. Each
// .bin holds N images of 32x32 (1 or 3 channels, uint8) with labels and subsets; see
// fmnist_rib.cc for the format. The manifest records the options and each file's
// SHA-256; its hash identifies the suite. Building is idempotent: when a complete
// manifest for the same options exists it is read back instead of rebuilding.
// Thread-safety: free functions; concurrent builds into one root are safe (each writes
// a private temporary folder and renames it into place).
#ifndef RIB_WORKER_DATA_FMNIST_RIB_H_
#define RIB_WORKER_DATA_FMNIST_RIB_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/data_layout.h"

namespace rib::data {

using spec::kFmnistRibVersion;  // spec/data_layout.h: the folder layout
inline constexpr int kFmnistImageSize = 32;

struct FmnistRibOptions {
  // Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.
  std::string source_dir = spec::kFmnistSourceDir;
  // Generation seed (part of the suite's identity).
  int64_t seed = 0;
  // fmnist-val: test images kept clean as the pre-training set's validation analogue.
  int64_t val_size = 2000;
  // Images per downstream set (before -a's filtering).
  int64_t downstream_size = 800;
  // fmnist-c: source images; each gets 3 of the 15 corruptions at all 5 severities, so
  // every "corruption/severity" subset has c_sources / 5 images.
  int64_t c_sources = 200;
  // Pre-training images (0 = all 60,000). Tests use a smaller variant.
  int64_t train_limit = 0;
};

struct FmnistDatasetEntry {
  std::string key;     // "fmnist-v2", ...
  std::string file;    // absolute path of the .bin
  int64_t count = 0;   // images
  std::string sha256;  // of the .bin
};

struct FmnistManifest {
  int version = kFmnistRibVersion;
  std::string dir;   // absolute folder of this build
  std::string hash;  // SHA-256 of the manifest text (identifies the suite)
  std::vector<FmnistDatasetEntry> datasets;
  const FmnistDatasetEntry* Find(const std::string& key) const;
};

// The ten class names of Fashion-MNIST, in label order.
const std::vector<std::string>& FmnistClassNames();
// The FMNIST-RIB keys, pre-training set first: spec::SuiteDatasetKeys("fmnist-rib").
// BuildFmnistRib makes one set per key, by the recipe of its ImageNet counterpart.
const std::vector<std::string>& FmnistKeys();

// Folder a build with these options lives in (under data_root).
std::string FmnistRibDir(const std::string& data_root, const FmnistRibOptions& options);

// Builds (or reads back the cached) suite. NOT_FOUND when the source files are missing,
// DATA_LOSS when they do not parse, INTERNAL on write errors.
absl::StatusOr<FmnistManifest> BuildFmnistRib(const std::string& data_root,
                                              const FmnistRibOptions& options);

// Reads the manifest of an existing build; NOT_FOUND when there is none.
absl::StatusOr<FmnistManifest> ReadFmnistManifest(const std::string& dir);

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_FMNIST_RIB_H_
