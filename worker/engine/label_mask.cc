#include "worker/engine/label_mask.h"

#include <limits>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rib::engine {

absl::StatusOr<LabelMask> LabelMask::Create(const data::LabelSpace& space,
                                            int64_t num_model_classes) {
  if (num_model_classes <= 0) {
    return absl::InvalidArgumentError("the model must have at least one class");
  }
  LabelMask mask;
  mask.num_model_classes_ = num_model_classes;
  // Position of each model class among the logits the dataset is scored on.
  std::unordered_map<int64_t, int64_t> position;
  if (!space.class_subset.empty()) {
    for (size_t i = 0; i < space.class_subset.size(); ++i) {
      const int64_t c = space.class_subset[i];
      if (c < 0 || c >= num_model_classes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "class_subset[", i, "] = ", c, " is outside the model's ", num_model_classes,
            " classes"));
      }
      if (!position.emplace(c, static_cast<int64_t>(i)).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("class_subset lists class ", c, " twice"));
      }
    }
    mask.restricted_ = static_cast<int64_t>(space.class_subset.size());
    mask.subset_ = torch::tensor(space.class_subset, torch::kLong);
  } else {
    mask.restricted_ = num_model_classes;
  }
  int64_t num_labels = space.num_labels();
  if (num_labels == 0) {
    num_labels = space.class_subset.empty() ? num_model_classes
                                            : static_cast<int64_t>(space.class_subset.size());
  }
  mask.accept_ = torch::zeros({num_labels, mask.restricted_}, torch::kBool);
  std::vector<int64_t> target(num_labels, 0);
  auto accept = mask.accept_.accessor<bool, 2>();
  for (int64_t label = 0; label < num_labels; ++label) {
    if (space.class_subset.empty() && space.accepted.empty() && label >= num_model_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label ", label, " is outside the model's ", num_model_classes, " classes"));
    }
    if (!space.class_subset.empty() && space.accepted.empty() &&
        label >= static_cast<int64_t>(space.class_subset.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label ", label, " has no entry in class_subset (size ",
          space.class_subset.size(), ")"));
    }
    const std::vector<int64_t> classes = space.AcceptedClasses(label);
    if (classes.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("label ", label, " accepts no class"));
    }
    if (classes.size() > 1) mask.multi_accept_ = true;
    for (int64_t c : classes) {
      int64_t pos = c;
      if (!position.empty()) {
        auto it = position.find(c);
        if (it == position.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "label ", label, " accepts class ", c, ", which is not in class_subset"));
        }
        pos = it->second;
      } else if (c < 0 || c >= num_model_classes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "label ", label, " accepts class ", c, ", outside the model's ",
            num_model_classes, " classes"));
      }
      accept[label][pos] = true;
      target[label] = pos;
    }
  }
  mask.target_ = torch::tensor(target, torch::kLong);
  return mask;
}

LabelMask LabelMask::Identity(int64_t num_classes) {
  LabelMask mask;
  mask.num_model_classes_ = num_classes;
  mask.restricted_ = num_classes;
  mask.accept_ = torch::eye(num_classes, torch::kBool);
  mask.target_ = torch::arange(num_classes, torch::kLong);
  return mask;
}

torch::Tensor LabelMask::Restrict(const torch::Tensor& logits) const {
  if (!subset_.defined()) return logits;
  return logits.index_select(1, subset_.to(logits.device()));
}

torch::Tensor LabelMask::Loss(const torch::Tensor& logits,
                              const torch::Tensor& labels) const {
  torch::Tensor z = Restrict(logits).to(torch::kFloat);
  const torch::Tensor labels_here = labels.to(torch::kLong).to(target_.device());
  if (!multi_accept_) {
    torch::Tensor target = target_.index_select(0, labels_here).to(z.device());
    return torch::nn::functional::cross_entropy(z, target);
  }
  torch::Tensor accepted = accept_.index_select(0, labels_here).to(z.device());
  torch::Tensor masked = z.masked_fill(accepted.logical_not(),
                                       -std::numeric_limits<float>::infinity());
  return (torch::logsumexp(z, 1) - torch::logsumexp(masked, 1)).mean();
}

torch::Tensor LabelMask::Correct(const torch::Tensor& logits,
                                 const torch::Tensor& labels) const {
  torch::Tensor pred = Restrict(logits).argmax(1).to(torch::kCPU);
  torch::Tensor rows = accept_.index_select(0, labels.to(torch::kCPU).to(torch::kLong));
  return rows.gather(1, pred.unsqueeze(1)).squeeze(1);
}

}  // namespace rib::engine
