#include "worker/data/fmnist_source.h"

#include <opencv2/core.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/fmnist_set.h"
#include "worker/data/image.h"

namespace rib::data::internal {
namespace {

// Thread-safe: immutable after construction.
class FmnistSource : public DatasetSource {
 public:
  FmnistSource(std::string key, FmnistSet set, rib::Preprocessing preprocessing)
      : key_(std::move(key)), set_(std::move(set)), pre_(std::move(preprocessing)) {
    examples_.reserve(set_.size());
    for (int64_t i = 0; i < set_.size(); ++i) {
      Example e;
      e.label = set_.label[i];
      if (set_.subset[i] >= 0) e.subset = set_.subset_names[set_.subset[i]];
      // fmnist-c: all corruptions of one test image form one split group.
      if (!set_.subset_names.empty() && set_.source[i] >= 0)
        e.group = absl::StrCat("src", set_.source[i]);
      // fmnist-train holds the Fashion-MNIST train images, every other set the t10k
      // images (disjoint shards; fmnist-c several corruptions of each).
      if (set_.source[i] >= 0)
        e.source = absl::StrCat(key_ == "fmnist-train" ? "train/" : "t10k/", set_.source[i]);
      e.index = i;
      examples_.push_back(std::move(e));
    }
  }

  const std::string& key() const override { return key_; }
  const LabelSpace& label_space() const override { return set_.labels; }
  const std::vector<Example>& examples() const override { return examples_; }
  std::vector<std::string> subsets() const override { return set_.subset_names; }

  absl::StatusOr<torch::Tensor> LoadImage(const Example& example) const override {
    if (example.index < 0 || example.index >= set_.size()) {
      return absl::OutOfRangeError(absl::StrCat(key_, ": example index ", example.index,
                                                " out of range [0, ", set_.size(), ")"));
    }
    const cv::Mat img(static_cast<int>(set_.h), static_cast<int>(set_.w),
                      set_.c == 1 ? CV_8UC1 : CV_8UC3,
                      const_cast<uint8_t*>(set_.image(example.index)));
    return PreprocessImage(img, pre_);
  }

 private:
  const std::string key_;
  const FmnistSet set_;
  const rib::Preprocessing pre_;
  std::vector<Example> examples_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DatasetSource>> OpenFmnistDataset(
    const std::string& key, const FmnistManifest& manifest,
    const DatasetOptions& options) {
  const FmnistDatasetEntry* entry = manifest.Find(key);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("FMNIST-RIB build ", manifest.dir, " has no ", key));
  }
  RIB_RETURN_IF_ERROR(ValidatePreprocessing(options.preprocessing));
  RIB_ASSIGN_OR_RETURN(FmnistSet set, ReadFmnistSet(entry->file));
  if (set.size() != entry->count) {
    return absl::DataLossError(absl::StrCat(entry->file, " has ", set.size(),
                                            " images, the manifest says ", entry->count));
  }
  return std::unique_ptr<DatasetSource>(
      new FmnistSource(key, std::move(set), options.preprocessing));
}

}  // namespace rib::data::internal
