// A dataset's LabelSpace applied to a model's logits (DESIGN §4.1): restriction to a
// class subset (IN-A/R, ObjectNet), the loss on the restricted logits, and top-1
// correctness with ObjectNet's any-accepted-class rule.
//
// Immutable after Create(); thread-safe for concurrent const use.
#ifndef RIB_WORKER_ENGINE_LABEL_MASK_H_
#define RIB_WORKER_ENGINE_LABEL_MASK_H_

#include <torch/torch.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "worker/data/dataset.h"

namespace rib::engine {

class LabelMask {
 public:
  // Validates the label space against the model's class count: INVALID_ARGUMENT when a
  // subset/accepted class is out of [0, num_model_classes), a label has no accepted
  // class inside the subset, or there are no labels.
  static absl::StatusOr<LabelMask> Create(const data::LabelSpace& space,
                                          int64_t num_model_classes);
  // The identity mask: every label is its own model class.
  static LabelMask Identity(int64_t num_classes);

  // [N, num_model_classes] → [N, K]: the logits the dataset is scored on (K = subset
  // size, or all classes when there is no subset).
  torch::Tensor Restrict(const torch::Tensor& logits) const;

  // Mean over the batch of -log Σ_{c ∈ accepted(label)} softmax(restricted logits)_c.
  // With one accepted class per label this is exactly torch's cross_entropy.
  // `labels` are dataset labels, int64 [N].
  torch::Tensor Loss(const torch::Tensor& logits, const torch::Tensor& labels) const;

  // bool [N]: the restricted argmax is an accepted class of the label.
  torch::Tensor Correct(const torch::Tensor& logits, const torch::Tensor& labels) const;

  int64_t num_model_classes() const { return num_model_classes_; }
  int64_t restricted_classes() const { return restricted_; }
  bool multi_accept() const { return multi_accept_; }

 private:
  LabelMask() = default;

  int64_t num_model_classes_ = 0;
  int64_t restricted_ = 0;
  torch::Tensor subset_;  // int64 [K], undefined when not restricting
  // bool [num_labels, K]: which restricted positions count as correct for a label.
  torch::Tensor accept_;
  // label → restricted position, int64 [num_labels] (valid when !multi_accept_).
  torch::Tensor target_;
  bool multi_accept_ = false;
};

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_LABEL_MASK_H_
