#include "worker/engine/collectives.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/dist/process_group.h"

namespace rib::engine {
namespace {

// Runs `op` on flattened buckets of `tensors` (grouped by dtype, in the order of the
// list, each at most `bucket_bytes` unless one tensor is larger), on the group's
// device, and copies the results back in place. Bucket order depends only on the
// tensors' dtypes and sizes, so it is the same on every rank.
template <typename Op>
absl::Status Bucketed(dist::ProcessGroup& group,
                      const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes,
                      Op op) {
  torch::NoGradGuard no_grad;
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_dtype;
  for (const auto& t : tensors) {
    if (t.defined()) by_dtype[t.scalar_type()].push_back(t);
  }
  for (auto& [dtype, list] : by_dtype) {
    size_t i = 0;
    while (i < list.size()) {
      std::vector<torch::Tensor> bucket;
      int64_t bytes = 0;
      while (i < list.size() &&
             (bucket.empty() ||
              bytes + list[i].numel() * list[i].element_size() <= bucket_bytes)) {
        bytes += list[i].numel() * list[i].element_size();
        bucket.push_back(list[i++]);
      }
      std::vector<torch::Tensor> flat_parts;
      for (const auto& t : bucket) flat_parts.push_back(t.reshape({-1}).to(group.device()));
      // torch::cat copies, even of one part: the collective never aliases a caller's
      // tensor.
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

absl::Status Broadcast(dist::ProcessGroup* group, std::vector<torch::Tensor> tensors,
                       int root) {
  if (root < 0 || root >= GroupSize(group)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "broadcast: root ", root, " is not a rank of a group of ", GroupSize(group)));
  }
  if (GroupSize(group) == 1) return absl::OkStatus();
  return Bucketed(*group, tensors, kDefaultBucketBytes,
                  [&](std::vector<torch::Tensor>& flat) {
                    return Annotate(group->Broadcast(flat, root), "broadcasting weights");
                  });
}

absl::Status AllReduceSum(dist::ProcessGroup* group, std::vector<torch::Tensor> tensors) {
  if (GroupSize(group) == 1) return absl::OkStatus();
  return Bucketed(
      *group, tensors, kDefaultBucketBytes,
      [&](std::vector<torch::Tensor>& flat) { return group->AllReduceSum(flat); });
}

absl::Status AllReduceGradients(dist::ProcessGroup* group,
                                const std::vector<torch::Tensor>& params,
                                int64_t bucket_bytes) {
  if (GroupSize(group) == 1) return absl::OkStatus();
  std::vector<torch::Tensor> reduced;
  for (const auto& p : params) {
    if (!p.defined() || !p.requires_grad()) continue;
    if (p.grad().defined() && p.grad().is_sparse()) {
      return absl::InvalidArgumentError(
          "all-reducing gradients: sparse gradients are not supported");
    }
    reduced.push_back(p);
  }
  // How many ranks have each gradient: all of them must reduce the same tensors, and
  // one that none has stays undefined (one tiny collective per step).
  torch::Tensor have = torch::zeros({static_cast<int64_t>(reduced.size())}, torch::kInt);
  {
    auto acc = have.accessor<int, 1>();
    for (size_t i = 0; i < reduced.size(); ++i) acc[i] = reduced[i].grad().defined();
  }
  RIB_RETURN_IF_ERROR(Annotate(AllReduceSum(group, {have}),
                               "all-reducing gradients (which are defined)"));
  std::vector<torch::Tensor> grads;
  {
    auto acc = have.accessor<int, 1>();
    for (size_t i = 0; i < reduced.size(); ++i) {
      if (acc[i] == 0) continue;
      torch::Tensor p = reduced[i];  // a handle: setting its grad sets the parameter's
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad());
    }
  }
  const double size = group->size();
  return Bucketed(*group, grads, bucket_bytes,
                  [&](std::vector<torch::Tensor>& flat) -> absl::Status {
                    RIB_RETURN_IF_ERROR(
                        Annotate(group->AllReduceSum(flat), "all-reducing gradients"));
                    flat[0].div_(size);
                    return absl::OkStatus();
                  });
}

}  // namespace rib::engine
