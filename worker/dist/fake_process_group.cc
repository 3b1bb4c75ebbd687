#include "worker/dist/fake_process_group.h"

#include <torch/torch.h>

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace rib::dist {
namespace {

// The state the handles share. One collective at a time: ranks deposit their inputs,
// the last to arrive computes the result and opens the next generation; every rank
// copies the result out before it can arrive at the next collective, so a result is
// never overwritten while someone still needs it.
class SharedGroup {
 public:
  SharedGroup(int size, absl::Duration timeout)
      : size_(size), timeout_(timeout), inputs_(size), ops_(size) {}

  // kind: "all-reduce", "broadcast" or "barrier"; root is -1 except for broadcast.
  absl::Status Run(int rank, const std::string& kind, int root,
                   std::vector<torch::Tensor>& tensors) {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    const int64_t generation = generation_;
    std::vector<torch::Tensor> mine;
    mine.reserve(tensors.size());
    for (const auto& t : tensors) mine.push_back(t.detach().cpu().clone());
    inputs_[rank] = std::move(mine);
    ops_[rank] = Signature(kind, root, tensors);
    if (++arrived_ == size_) {
      Complete(kind, root);
      arrived_ = 0;
      ++generation_;
    } else {
      auto done = [this, generation]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return generation_ != generation || !broken_.ok();
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout_)) {
        broken_ = absl::UnavailableError(absl::StrCat(
            "fake ", kind, ": rank ", rank, " waited ", absl::FormatDuration(timeout_),
            " for the other ranks of a group of ", size_));
        return broken_;
      }
    }
    if (!broken_.ok()) return broken_;
    for (size_t i = 0; i < tensors.size(); ++i) {
      torch::NoGradGuard no_grad;
      tensors[i].copy_(result_[i]);
    }
    return absl::OkStatus();
  }

  int size() const { return size_; }

 private:
  static std::string Signature(const std::string& kind, int root,
                               const std::vector<torch::Tensor>& tensors) {
    std::string s =
        absl::StrCat(kind, " root ", root, " of ", tensors.size(), " tensors:");
    for (const auto& t : tensors) {
      absl::StrAppend(&s, " ", std::string(c10::toString(t.scalar_type())), "[");
      for (int64_t d : t.sizes()) absl::StrAppend(&s, d, ",");
      absl::StrAppend(&s, "]");
    }
    return s;
  }

  void Complete(const std::string& kind, int root) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int r = 1; r < size_; ++r) {
      if (ops_[r] != ops_[0]) {
        broken_ = absl::InvalidArgumentError(
            absl::StrCat("ranks disagree on the collective: rank 0 called ", ops_[0],
                         "; rank ", r, " called ", ops_[r]));
        return;
      }
    }
    result_.clear();
    if (kind == "broadcast") {
      result_ = inputs_[root];
    } else if (kind == "all-reduce") {
      result_ = inputs_[0];
      for (int r = 1; r < size_; ++r) {
        for (size_t i = 0; i < result_.size(); ++i)
          result_[i] = result_[i] + inputs_[r][i];
      }
    }
  }

  const int size_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  std::vector<std::vector<torch::Tensor>> inputs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ops_ ABSL_GUARDED_BY(mu_);
  std::vector<torch::Tensor> result_ ABSL_GUARDED_BY(mu_);
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
};

class InProcessGroup : public ProcessGroup {
 public:
  InProcessGroup(std::shared_ptr<SharedGroup> shared, int rank)
      : shared_(std::move(shared)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return shared_->size(); }
  std::string backend() const override { return "fake"; }

  absl::Status AllReduceSum(std::vector<torch::Tensor>& tensors) override {
    if (absl::Status s = Check(tensors, "AllReduceSum"); !s.ok()) return s;
    return shared_->Run(rank_, "all-reduce", -1, tensors);
  }
  absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    if (root < 0 || root >= size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Broadcast: root ", root, " is not a rank of a group of ", size()));
    }
    if (absl::Status s = Check(tensors, "Broadcast"); !s.ok()) return s;
    return shared_->Run(rank_, "broadcast", root, tensors);
  }
  absl::Status Barrier() override {
    std::vector<torch::Tensor> none;
    return shared_->Run(rank_, "barrier", -1, none);
  }

 private:
  static absl::Status Check(const std::vector<torch::Tensor>& tensors, const char* op) {
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (!tensors[i].defined() || tensors[i].is_sparse()) {
        return absl::InvalidArgumentError(
            absl::StrCat(op, ": tensor ", i, " is undefined or sparse"));
      }
    }
    return absl::OkStatus();
  }

  std::shared_ptr<SharedGroup> shared_;
  const int rank_;
};

}  // namespace

std::vector<std::unique_ptr<ProcessGroup>> CreateInProcessGroups(int world_size,
                                                                 absl::Duration timeout) {
  std::vector<std::unique_ptr<ProcessGroup>> groups;
  if (world_size < 1) return groups;
  auto shared = std::make_shared<SharedGroup>(world_size, timeout);
  for (int r = 0; r < world_size; ++r) {
    groups.push_back(std::make_unique<InProcessGroup>(shared, r));
  }
  return groups;
}

}  // namespace rib::dist
