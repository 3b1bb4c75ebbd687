#include "worker/dist/gradients.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib::dist {
namespace {

// Tensors packed into one flat buffer per (dtype, device) group, in order, split so
// that no buffer exceeds `bucket_bytes` unless a single tensor does.
std::vector<std::vector<torch::Tensor>> MakeBuckets(
    const std::vector<torch::Tensor>& tensors, size_t bucket_bytes) {
  // Keyed by first appearance so bucket order is identical on every rank.
  std::vector<std::vector<torch::Tensor>> buckets;
  std::map<std::pair<int, std::string>, size_t> open;  // group -> index of open bucket
  std::map<size_t, size_t> bytes;                      // bucket index -> bytes in it
  for (const auto& t : tensors) {
    auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    const size_t n = static_cast<size_t>(t.numel()) * t.element_size();
    auto it = open.find(key);
    if (it == open.end() ||
        (bytes[it->second] > 0 && bytes[it->second] + n > bucket_bytes)) {
      buckets.emplace_back();
      open[key] = buckets.size() - 1;
      it = open.find(key);
    }
    buckets[it->second].push_back(t);
    bytes[it->second] += n;
  }
  return buckets;
}

torch::Tensor Flatten(const std::vector<torch::Tensor>& tensors) {
  if (tensors.size() == 1) return tensors[0].reshape({-1}).clone();
  std::vector<torch::Tensor> flat;
  flat.reserve(tensors.size());
  for (const auto& t : tensors) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void Unflatten(const torch::Tensor& flat, std::vector<torch::Tensor>& tensors) {
  int64_t offset = 0;
  for (auto& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(flat.narrow(0, offset, n).view_as(t));
    offset += n;
  }
}

}  // namespace

absl::Status BroadcastParameters(torch::nn::Module& module, ProcessGroup& group,
                                 int root) {
  if (root < 0 || root >= group.size()) {
    return absl::InvalidArgumentError(absl::StrCat("BroadcastParameters: root ", root,
                                                   " is not a rank of a group of ",
                                                   group.size()));
  }
  if (group.size() == 1) return absl::OkStatus();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    if (p.defined()) tensors.push_back(p);
  }
  for (const auto& b : module.buffers(/*recurse=*/true)) {
    if (b.defined()) tensors.push_back(b);
  }
  for (auto& bucket : MakeBuckets(tensors, kDefaultBucketBytes)) {
    std::vector<torch::Tensor> flat{Flatten(bucket)};
    RIB_RETURN_IF_ERROR(Annotate(group.Broadcast(flat, root), "broadcasting parameters"));
    Unflatten(flat[0], bucket);
  }
  return absl::OkStatus();
}

absl::Status AllReduceGradients(torch::nn::Module& module, ProcessGroup& group,
                                size_t bucket_bytes) {
  if (group.size() == 1) return absl::OkStatus();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    if (!p.defined() || !p.requires_grad()) continue;
    const torch::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (g.is_sparse()) {
      return absl::InvalidArgumentError(
          "AllReduceGradients: sparse gradients are not supported");
    }
    grads.push_back(g);
  }
  const double inv_size = 1.0 / group.size();
  for (auto& bucket : MakeBuckets(grads, bucket_bytes)) {
    std::vector<torch::Tensor> flat{Flatten(bucket)};
    RIB_RETURN_IF_ERROR(Annotate(group.AllReduceSum(flat), "all-reducing gradients"));
    flat[0].mul_(inv_size);
    Unflatten(flat[0], bucket);
  }
  return absl::OkStatus();
}

absl::Status AllReduceCounts(std::vector<int64_t>& counts, ProcessGroup& group) {
  if (group.size() == 1 || counts.empty()) return absl::OkStatus();
  std::vector<torch::Tensor> t{
      torch::tensor(std::vector<int64_t>(counts), torch::dtype(torch::kInt64))
          .to(group.device())};
  RIB_RETURN_IF_ERROR(Annotate(group.AllReduceSum(t), "summing counts"));
  torch::Tensor summed = t[0].cpu();
  auto acc = summed.accessor<int64_t, 1>();
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = acc[static_cast<int64_t>(i)];
  return absl::OkStatus();
}

Shard ShardRange(int64_t n, int rank, int world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size || n <= 0) return Shard{};
  const int64_t base = n / world_size;
  const int64_t extra = n % world_size;
  Shard s;
  s.begin = rank * base + std::min<int64_t>(rank, extra);
  s.end = s.begin + base + (rank < extra ? 1 : 0);
  return s;
}

}  // namespace rib::dist
