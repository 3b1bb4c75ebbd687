#include "worker/engine/batches.h"

#include <algorithm>
#include <utility>

namespace rib::engine {
namespace {

class IndexStream : public BatchStream {
 public:
  IndexStream(torch::Tensor images, torch::Tensor labels, torch::Tensor order,
              int64_t batch_size, int rank, int world_size, bool drop_last,
              std::vector<std::string> subsets,
              std::function<torch::Tensor(const torch::Tensor&, int64_t)> augment,
              int64_t seed)
      : images_(std::move(images)),
        labels_(std::move(labels)),
        order_(std::move(order)),
        batch_size_(batch_size),
        rank_(rank),
        world_size_(world_size),
        drop_last_(drop_last),
        subsets_(std::move(subsets)),
        augment_(std::move(augment)),
        seed_(seed) {}

  absl::StatusOr<bool> Next(Batch* batch) override {
    const int64_t n = order_.size(0);
    if (next_ >= n) return false;
    const int64_t end = std::min(n, next_ + batch_size_);
    if (drop_last_ && end - next_ < batch_size_) return false;
    // This rank's contiguous part of the global batch.
    const int64_t len = end - next_;
    const int64_t per = (len + world_size_ - 1) / world_size_;
    const int64_t lo = std::min(len, rank_ * per), hi = std::min(len, lo + per);
    torch::Tensor idx = order_.slice(0, next_ + lo, next_ + hi);
    next_ = end;
    batch->images = images_.index_select(0, idx);
    batch->labels = labels_.index_select(0, idx);
    batch->subsets.clear();
    batch->skipped = 0;
    if (!subsets_.empty()) {
      auto acc = idx.accessor<int64_t, 1>();
      for (int64_t i = 0; i < idx.size(0); ++i) batch->subsets.push_back(subsets_[acc[i]]);
    } else {
      batch->subsets.assign(idx.size(0), "");
    }
    if (augment_) batch->images = augment_(batch->images, seed_ * 1000003 + step_);
    ++step_;
    return true;
  }

 private:
  torch::Tensor images_, labels_, order_;
  int64_t batch_size_;
  int rank_, world_size_;
  bool drop_last_;
  std::vector<std::string> subsets_;
  std::function<torch::Tensor(const torch::Tensor&, int64_t)> augment_;
  int64_t seed_;
  int64_t next_ = 0;
  int64_t step_ = 0;
};

}  // namespace

TensorTrainData::TensorTrainData(torch::Tensor images, torch::Tensor labels,
                                 Options options)
    : images_(std::move(images)), labels_(std::move(labels)), options_(std::move(options)) {}

int64_t TensorTrainData::steps_per_epoch() const {
  const int64_t n = images_.size(0);
  return options_.drop_last ? n / options_.batch_size
                            : (n + options_.batch_size - 1) / options_.batch_size;
}

absl::StatusOr<std::unique_ptr<BatchStream>> TensorTrainData::Epoch(int epoch) {
  torch::Tensor order;
  const int64_t epoch_seed = options_.seed * 7919 + epoch;
  if (options_.shuffle) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(epoch_seed);
    order = torch::randperm(images_.size(0), gen, torch::kLong);
  } else {
    order = torch::arange(images_.size(0), torch::kLong);
  }
  return std::unique_ptr<BatchStream>(std::make_unique<IndexStream>(
      images_, labels_, order, options_.batch_size, options_.rank, options_.world_size,
      options_.drop_last, std::vector<std::string>{}, options_.augment, epoch_seed));
}

std::unique_ptr<BatchStream> MakeTensorStream(torch::Tensor images, torch::Tensor labels,
                                              int64_t batch_size,
                                              std::vector<std::string> subsets) {
  torch::Tensor order = torch::arange(images.size(0), torch::kLong);
  return std::make_unique<IndexStream>(std::move(images), std::move(labels),
                                       std::move(order), batch_size, 0, 1, false,
                                       std::move(subsets), nullptr, 0);
}

}  // namespace rib::engine
