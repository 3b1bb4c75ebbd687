#include "worker/engine/collectives.h"

#include <map>
#include <utility>

#include "common/status_macros.h"
#include "worker/dist/process_group.h"

namespace rib::engine {
namespace {

// Bucket size for flattened collectives (PyTorch DDP's 25 MiB).
constexpr int64_t kBucketBytes = int64_t{25} << 20;

// Runs `op` on flattened buckets of `tensors` (grouped by dtype), on the group's device,
// and copies the results back in place.
template <typename Op>
absl::Status Bucketed(dist::ProcessGroup& group, const std::vector<torch::Tensor>& tensors,
                      Op op) {
  torch::NoGradGuard no_grad;
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_dtype;
  for (const auto& t : tensors) by_dtype[t.scalar_type()].push_back(t);
  for (auto& [dtype, list] : by_dtype) {
    size_t i = 0;
    while (i < list.size()) {
      std::vector<torch::Tensor> bucket;
      int64_t bytes = 0;
      while (i < list.size() && (bucket.empty() ||
                                 bytes + list[i].numel() * list[i].element_size() <=
                                     kBucketBytes)) {
        bytes += list[i].numel() * list[i].element_size();
        bucket.push_back(list[i++]);
      }
      std::vector<torch::Tensor> flat_parts;
      for (const auto& t : bucket) flat_parts.push_back(t.reshape({-1}).to(group.device()));
      std::vector<torch::Tensor> flat = {torch::cat(flat_parts).contiguous()};
      RIB_RETURN_IF_ERROR(op(flat));
      int64_t offset = 0;
      for (auto& t : bucket) {
        const int64_t n = t.numel();
        t.copy_(flat[0].slice(0, offset, offset + n).view(t.sizes()));
        offset += n;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

int GroupRank(dist::ProcessGroup* group) { return group == nullptr ? 0 : group->rank(); }
int GroupSize(dist::ProcessGroup* group) { return group == nullptr ? 1 : group->size(); }

absl::Status BroadcastFromRank0(dist::ProcessGroup* group,
                                std::vector<torch::Tensor> tensors) {
  if (group == nullptr || group->size() == 1) return absl::OkStatus();
  return Bucketed(*group, tensors,
                  [&](std::vector<torch::Tensor>& flat) { return group->Broadcast(flat, 0); });
}

absl::Status AllReduceSum(dist::ProcessGroup* group, std::vector<torch::Tensor> tensors) {
  if (group == nullptr || group->size() == 1) return absl::OkStatus();
  return Bucketed(*group, tensors,
                  [&](std::vector<torch::Tensor>& flat) { return group->AllReduceSum(flat); });
}

absl::Status AllReduceGradients(dist::ProcessGroup* group,
                                const std::vector<torch::Tensor>& params) {
  if (group == nullptr || group->size() == 1) return absl::OkStatus();
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (!p.grad().defined()) {
      const_cast<torch::Tensor&>(p).mutable_grad() = torch::zeros_like(p);
    }
    grads.push_back(p.grad());
  }
  const double size = group->size();
  return Bucketed(*group, grads, [&](std::vector<torch::Tensor>& flat) -> absl::Status {
    RIB_RETURN_IF_ERROR(group->AllReduceSum(flat));
    flat[0].div_(size);
    return absl::OkStatus();
  });
}

}  // namespace rib::engine
