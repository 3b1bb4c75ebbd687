#include "worker/data/loader.h"

#include <sys/mman.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "worker/data/rng.h"

namespace rib::data {

namespace {

// A batch (38 MB at 64 x 3 x 224 x 224) is a fresh mmap from glibc each time; in 4 KB
// pages its first writes cost ~9,400 page faults. Where the kernel's transparent huge
// pages are on "madvise" (Debian's default), asking for them cuts that to a few dozen.
// Only advice: nothing changes if it is refused.
void AdviseHugePages(const torch::Tensor& t) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kPage = 4096;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t end = begin + t.numel() * t.element_size();
  const uintptr_t first = (begin + kPage - 1) & ~(kPage - 1);
  if (end > first + (2u << 20)) {
    madvise(reinterpret_cast<void*>(first), (end - first) & ~(kPage - 1), MADV_HUGEPAGE);
  }
#else
  (void)t;
#endif
}

}  // namespace

// One producer pool, one consumer. Workers take decode tasks in batch order, never more
// than prefetch_batches ahead of the batch the consumer waits for.
class BatchLoader::Impl {
 public:
  Impl(const DatasetSource* source, std::vector<Example> examples, LoaderOptions options)
      : source_(source), examples_(std::move(examples)), opts_(options) {
    Plan();
    slots_.resize(plan_.size());
    for (size_t b = 0; b < plan_.size(); ++b) {
      slots_[b].status.resize(plan_[b].size());
      slots_[b].remaining = static_cast<int64_t>(plan_[b].size());
    }
    int threads = opts_.threads > 0
                      ? opts_.threads
                      : static_cast<int>(std::thread::hardware_concurrency());
    threads = std::max(1, threads);
    for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { Work(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int64_t num_batches() const { return static_cast<int64_t>(plan_.size()); }
  int64_t total_skipped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return total_skipped_;
  }

  absl::StatusOr<bool> Next(Batch* out) {
    std::unique_lock<std::mutex> lock(mu_);
    if (consumed_ >= num_batches()) return false;
    const int64_t b = consumed_;
    done_cv_.wait(lock, [&] { return slots_[b].remaining == 0; });
    Slot slot = std::move(slots_[b]);
    slots_[b] = Slot();
    ++consumed_;
    lock.unlock();
    work_cv_.notify_all();

    Batch batch;
    std::vector<int64_t> labels, keep;
    for (size_t j = 0; j < plan_[b].size(); ++j) {
      const Example& e = examples_[plan_[b][j]];
      if (!slot.status[j].ok()) {
        if (opts_.skip_corrupt &&
            (slot.status[j].code() == absl::StatusCode::kDataLoss ||
             slot.status[j].code() == absl::StatusCode::kNotFound)) {
          ++batch.skipped;
          continue;
        }
        return slot.status[j];
      }
      keep.push_back(static_cast<int64_t>(j));
      labels.push_back(e.label);
      batch.indices.push_back(e.index);
      batch.subsets.push_back(e.subset);
    }
    if (keep.empty()) {
      batch.images = torch::empty({0, 3, 0, 0}, torch::kFloat);
      lock.lock();
      if (item_shape_.size() == 3) {
        batch.images = torch::empty({0, item_shape_[0], item_shape_[1], item_shape_[2]},
                                    torch::kFloat);
      }
      lock.unlock();
    } else if (keep.size() == plan_[b].size()) {
      batch.images = std::move(slot.batch);
    } else {
      batch.images = slot.batch.index_select(0, torch::tensor(keep, torch::kInt64));
    }
    batch.labels = torch::tensor(labels, torch::kInt64);
    {
      std::lock_guard<std::mutex> l(mu_);
      total_skipped_ += batch.skipped;
    }
    *out = std::move(batch);
    return true;
  }

  // For an empty first batch: learn the image shape from one example.
  void LearnShape() {
    if (examples_.empty()) return;
    auto img = source_->LoadImage(examples_.front());
    if (img.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      item_shape_ = img->sizes().vec();
    }
  }

 private:
  struct Slot {
    torch::Tensor batch;  // [n, C, H, W], allocated by the first decoded image
    std::vector<absl::Status> status;
    int64_t remaining = 0;
  };

  // The global order, cut into global batches, of which this rank keeps its slice.
  void Plan() {
    const int64_t n = static_cast<int64_t>(examples_.size());
    std::vector<int64_t> order(n);
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    if (opts_.shuffle) {
      internal::Rng rng(static_cast<uint64_t>(opts_.seed),
                        0xE0C40000ULL + static_cast<uint64_t>(opts_.epoch));
      rng.Shuffle(order);
    }
    const int64_t b = opts_.batch_size, w = opts_.world_size, r = opts_.rank;
    const int64_t global = b * w;
    const int64_t full = n / global, rest = n % global;
    for (int64_t g = 0; g < full; ++g) {
      const int64_t begin = g * global + r * b;
      plan_.emplace_back(order.begin() + begin, order.begin() + begin + b);
    }
    if (rest > 0 && !opts_.drop_last) {
      const int64_t base = full * global;
      const int64_t lo = base + rest * r / w, hi = base + rest * (r + 1) / w;
      plan_.emplace_back(order.begin() + lo, order.begin() + hi);
    }
    for (size_t bi = 0; bi < plan_.size(); ++bi)
      for (size_t j = 0; j < plan_[bi].size(); ++j)
        tasks_.push_back({static_cast<int64_t>(bi), j});
  }

  // A worker thread, and the loader's LibTorch exception boundary: a task that throws
  // (decoding, allocating the batch, copying into it) fails with INTERNAL naming the
  // file, and the consumer gets that status; a throw must not leave the thread, where it
  // would end in std::terminate.
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      work_cv_.wait(lock, [&] {
        return stop_ || (next_task_ < tasks_.size() &&
                         tasks_[next_task_].first <
                             consumed_ + static_cast<int64_t>(opts_.prefetch_batches));
      });
      if (stop_) return;
      const auto [b, j] = tasks_[next_task_++];
      absl::Status status;
      try {
        status = Decode(b, j, lock);
      } catch (const c10::Error& e) {
        status = absl::InternalError(absl::StrCat(
            "decoding ", examples_[plan_[b][j]].path, ": ", e.what_without_backtrace()));
      } catch (const std::exception& e) {
        status = absl::InternalError(
            absl::StrCat("decoding ", examples_[plan_[b][j]].path, ": ", e.what()));
      }
      if (!lock.owns_lock()) lock.lock();
      Slot& slot = slots_[b];
      slot.status[j] = std::move(status);
      if (--slot.remaining == 0) done_cv_.notify_all();
    }
  }

  // Decodes item j of batch b into its row of the batch. Called with `lock` held and
  // returns with it held (when it throws, in either state).
  absl::Status Decode(int64_t b, size_t j, std::unique_lock<std::mutex>& lock) {
    const Example& example = examples_[plan_[b][j]];
    lock.unlock();
    absl::StatusOr<torch::Tensor> img = source_->LoadImage(example);
    lock.lock();
    if (!img.ok()) return img.status();
    Slot& slot = slots_[b];
    if (item_shape_.empty()) item_shape_ = img->sizes().vec();
    if (!slot.batch.defined()) {
      std::vector<int64_t> shape = {static_cast<int64_t>(plan_[b].size())};
      for (int64_t d : img->sizes()) shape.push_back(d);
      slot.batch = torch::empty(shape, torch::kFloat);
      AdviseHugePages(slot.batch);
    }
    if (img->sizes() != slot.batch.sizes().slice(1)) {
      return absl::InternalError(
          absl::StrCat("image ", example.path, " has another shape than its batch"));
    }
    // Copy outside the lock: the row is this task's alone, and the slot is not moved
    // before its last task finishes.
    torch::Tensor row = slot.batch[static_cast<int64_t>(j)];
    lock.unlock();
    if (img->scalar_type() == torch::kFloat && img->is_contiguous()) {
      // A plain memcpy: ATen's copy_ would start an intra-op thread team from each
      // decoding thread.
      std::memcpy(row.data_ptr<float>(), img->data_ptr<float>(),
                  img->numel() * sizeof(float));
    } else {
      row.copy_(*img);
    }
    lock.lock();
    return absl::OkStatus();
  }

  const DatasetSource* source_;
  const std::vector<Example> examples_;
  const LoaderOptions opts_;
  std::vector<std::vector<int64_t>> plan_;         // per batch: positions in examples_
  std::vector<std::pair<int64_t, size_t>> tasks_;  // (batch, item) in decode order

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait for tasks within the prefetch window
  std::condition_variable done_cv_;  // the consumer waits for its batch
  std::vector<Slot> slots_;          // guarded by mu_
  size_t next_task_ = 0;             // guarded by mu_
  int64_t consumed_ = 0;             // guarded by mu_
  int64_t total_skipped_ = 0;        // guarded by mu_
  std::vector<int64_t> item_shape_;  // guarded by mu_
  bool stop_ = false;                // guarded by mu_
  std::vector<std::thread> workers_;
};

absl::StatusOr<std::unique_ptr<BatchLoader>> BatchLoader::Create(
    const DatasetSource* source, std::vector<Example> examples, LoaderOptions options) {
  if (source == nullptr) return absl::InvalidArgumentError("BatchLoader: source is null");
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad rank ", options.rank, " of world size ", options.world_size));
  }
  if (options.prefetch_batches < 1) options.prefetch_batches = 1;
  if (options.threads < 0) return absl::InvalidArgumentError("threads must be >= 0");
  auto impl = std::make_unique<Impl>(source, std::move(examples), options);
  impl->LearnShape();
  return std::unique_ptr<BatchLoader>(new BatchLoader(std::move(impl)));
}

BatchLoader::BatchLoader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BatchLoader::~BatchLoader() = default;
absl::StatusOr<bool> BatchLoader::Next(Batch* out) { return impl_->Next(out); }
int64_t BatchLoader::num_batches() const { return impl_->num_batches(); }
int64_t BatchLoader::total_skipped() const { return impl_->total_skipped(); }

}  // namespace rib::data
