#include "tests/worker/dist/dist_test_model.h"

#include <limits>

#include "common/status_macros.h"
#include "worker/dist/gradients.h"

namespace rib::dist::testing {

TinyMlpImpl::TinyMlpImpl() {
  fc1 = register_module("fc1", torch::nn::Linear(8, 16));
  fc2 = register_module("fc2", torch::nn::Linear(16, 4));
  unused = register_module("unused", torch::nn::Linear(4, 4));
  frozen_scale = register_parameter("frozen_scale", torch::rand({16}) + 0.5,
                                    /*requires_grad=*/false);
  marker = register_buffer("marker", torch::rand({3}));
}

torch::Tensor TinyMlpImpl::forward(const torch::Tensor& x) {
  return fc2(torch::tanh(fc1(x)) * frozen_scale);
}

absl::StatusOr<std::vector<torch::Tensor>> Train(const TrainOptions& options,
                                                 ProcessGroup& group) {
  constexpr int64_t kSamples = 96;
  // The dataset is the same on every rank: its own generator seed, independent of
  // init_seed.
  torch::manual_seed(12345);
  const torch::Tensor inputs = torch::randn({kSamples, 8});
  const torch::Tensor labels = torch::randint(0, 4, {kSamples});

  torch::manual_seed(options.init_seed);
  TinyMlp model;
  RIB_RETURN_IF_ERROR(BroadcastParameters(*model, group, /*root=*/0));
  torch::optim::SGD optimizer(
      model->parameters(),
      torch::optim::SGDOptions(options.lr).momentum(options.momentum));

  const Shard shard = ShardRange(options.global_batch, group.rank(), group.size());
  for (int step = 0; step < options.steps; ++step) {
    const int64_t start = (step * options.global_batch) % kSamples;
    torch::Tensor x = inputs.narrow(0, start, options.global_batch)
                          .narrow(0, shard.begin, shard.end - shard.begin);
    torch::Tensor y = labels.narrow(0, start, options.global_batch)
                          .narrow(0, shard.begin, shard.end - shard.begin);
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    RIB_RETURN_IF_ERROR(AllReduceGradients(*model, group, options.bucket_bytes));
    optimizer.step();
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : model->named_parameters())
    out.push_back(p.value().detach().clone());
  for (const auto& b : model->named_buffers()) out.push_back(b.value().detach().clone());
  return out;
}

std::vector<std::string> WeightNames() {
  TinyMlp model;
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  for (const auto& b : model->named_buffers()) names.push_back(b.key());
  return names;
}

double MaxAbsDiff(const std::vector<torch::Tensor>& a,
                  const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].sizes().equals(b[i].sizes()))
      return std::numeric_limits<double>::infinity();
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  }
  return worst;
}

}  // namespace rib::dist::testing
