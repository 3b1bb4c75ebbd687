// Per-thread reuse of image-sized buffers (internal to worker/data). A decode or resize
// that allocated its ~0.5 MB result afresh for every image paid for it in page faults
// (glibc returns such blocks to the kernel and takes them back zeroed): about a quarter
// of the loader's CPU time. These helpers hand out memory from a slot that the calling
// thread keeps, reused once nobody else holds what was handed out before.
// Thread-safety: each slot must belong to one thread (declare it thread_local).
#ifndef RIB_WORKER_DATA_BUFFER_POOL_H_
#define RIB_WORKER_DATA_BUFFER_POOL_H_

#include <torch/types.h>

#include <opencv2/core.hpp>

namespace rib::data::internal {

// A rows x cols Mat of `type` (8-bit, continuous) whose memory comes from `*slot`: reused when
// the slot is large enough and every Mat handed out from it before has been released,
// else a fresh allocation that becomes the slot. The result owns its memory like any
// Mat (it shares the slot's reference count), so a caller may keep it as long as it
// likes; the slot then simply allocates anew.
cv::Mat PooledMat(cv::Mat* slot, int rows, int cols, int type);

// The same for a float tensor of `sizes` (contents undefined), checking that neither
// the tensor nor any view of its storage is still held.
torch::Tensor PooledFloatTensor(torch::Tensor* slot, at::IntArrayRef sizes);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_BUFFER_POOL_H_
