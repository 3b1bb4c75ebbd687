// A DatasetSource whose images are constant tensors holding the example index, for the
// split and loader tests. Examples listed in `fail` report DATA_LOSS with their path.
#ifndef RIB_TESTS_WORKER_DATA_FAKE_SOURCE_H_
#define RIB_TESTS_WORKER_DATA_FAKE_SOURCE_H_

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/data/source.h"

namespace rib::data::testing {

class FakeSource : public DatasetSource {
 public:
  // `labels[i]` is example i's label; `groups` (optional) its group.
  explicit FakeSource(std::vector<int64_t> labels, std::vector<std::string> groups = {},
                      std::set<int64_t> fail = {})
      : fail_(std::move(fail)) {
    int64_t max_label = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
      Example e;
      e.path = absl::StrCat("/fake/", i, ".jpg");
      e.label = labels[i];
      if (!groups.empty()) e.group = groups[i];
      e.index = static_cast<int64_t>(i);
      max_label = std::max(max_label, labels[i]);
      examples_.push_back(e);
    }
    labels_.num_model_classes = max_label + 1;
    for (int64_t l = 0; l <= max_label; ++l)
      labels_.label_names.push_back(absl::StrCat("c", l));
  }

  const std::string& key() const override { return key_; }
  const LabelSpace& label_space() const override { return labels_; }
  const std::vector<Example>& examples() const override { return examples_; }
  absl::StatusOr<torch::Tensor> LoadImage(const Example& e) const override {
    ++loads_;
    if (fail_.count(e.index))
      return absl::DataLossError(absl::StrCat("cannot decode image: ", e.path));
    return torch::full({3, 2, 2}, static_cast<float>(e.index));
  }
  int64_t loads() const { return loads_.load(); }

 private:
  const std::string key_ = "fake";
  LabelSpace labels_;
  std::vector<Example> examples_;
  std::set<int64_t> fail_;
  mutable std::atomic<int64_t> loads_{0};
};

}  // namespace rib::data::testing

#endif  // RIB_TESTS_WORKER_DATA_FAKE_SOURCE_H_
