// CheckDataRoot: what `rib-data check DATA_ROOT` reports. For every dataset of the
// ImageNet-RIB benchmark (and imagenet-c-extra): whether its folder is there and under
// which of the accepted names (spec/data_layout.h), its image and class counts against
// the published ones, and what is missing or misnamed.
//
// Thread-safety: a pure function of the file system; safe to call from any thread.
#ifndef RIB_WORKER_DATA_DATA_CHECK_H_
#define RIB_WORKER_DATA_DATA_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "worker/data/source.h"

namespace rib::data {

// The published size of one dataset (README "Datasets as downloaded" names the source
// of each figure).
struct PublishedCounts {
  std::string key;
  int64_t images = 0;   // all images (ImageNet-C: every subset together)
  int64_t classes = 0;  // class folders (ObjectNet: its own 313 folders)
  int64_t subsets = 0;  // ImageNet-C corruption x severity subsets; 0 otherwise
};

// Every checked key, in catalog order, with its published counts.
const std::vector<PublishedCounts>& PublishedDatasetCounts();

struct DatasetCheck {
  std::string key;
  std::string folder;    // the folder found, relative to the root; "" when missing
  bool opened = false;   // OpenDataset succeeded
  int64_t images = 0;    // found (ObjectNet: in all folders, not only the 113 used)
  int64_t classes = 0;   // class folders found with images
  int64_t subsets = 0;
  PublishedCounts published;
  // One line each: the open error, counts that differ, missing subsets, misnamed files.
  std::vector<std::string> problems;
  // Facts that are no problem (which accepted name was found, ObjectNet's used part).
  std::vector<std::string> notes;

  // "ok" (opened, counts as published), "differs" (opened, counts differ), "error"
  // (present but does not open) or "missing".
  std::string Status() const;
};

// Checks every key of PublishedDatasetCounts() under options.data_root (the other
// options are used to open them: class_list_file, objectnet_mode). Also reports, as a
// "(root)" entry, folders of the root that look like a dataset under a name rib does
// not read. NOT_FOUND for a missing root; everything else is a problem in the result.
absl::StatusOr<std::vector<DatasetCheck>> CheckDataRoot(const DatasetOptions& options);

// The report `rib-data check` prints: one line per dataset, then its problems indented.
std::string FormatDataCheck(const std::vector<DatasetCheck>& checks);

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_DATA_CHECK_H_
