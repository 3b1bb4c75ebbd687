#include "worker/data/buffer_pool.h"

#include <cstddef>

namespace rib::data::internal {

cv::Mat PooledMat(cv::Mat* slot, int rows, int cols, int type) {
  CV_Assert(CV_MAT_DEPTH(type) == CV_8U);
  const size_t need = static_cast<size_t>(rows) * cols * CV_ELEM_SIZE(type);
  // Only this slot refers to the memory: nothing handed out earlier is alive (an atomic
  // read, as the last holder may have released it on another thread).
  const bool free = slot->u != nullptr && CV_XADD(&slot->u->refcount, 0) == 1;
  if (!free || slot->total() < need) {
    *slot = cv::Mat(1, static_cast<int>(need), CV_8UC1);
  }
  if (need == 0) return cv::Mat(rows, cols, type);
  // A one-row ROI is continuous, so it reshapes to rows x cols of `type`.
  return (*slot)(cv::Rect(0, 0, static_cast<int>(need), 1))
      .reshape(CV_MAT_CN(type), rows);
}

torch::Tensor PooledFloatTensor(torch::Tensor* slot, at::IntArrayRef sizes) {
  if (!slot->defined() || slot->sizes() != sizes || slot->use_count() != 1 ||
      slot->storage().use_count() != 1) {
    *slot = torch::empty(sizes, torch::kFloat);
  }
  return *slot;
}

}  // namespace rib::data::internal
