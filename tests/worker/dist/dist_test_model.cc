#include "tests/worker/dist/dist_test_model.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tests/worker/engine/train/tiny_model.h"
#include "worker/engine/batches.h"
#include "worker/engine/collectives.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/methods.h"
#include "worker/engine/trainer.h"

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
  engine::TrainSetup setup;
  for (const auto& p : model->named_parameters()) {
    setup.state.emplace_back(p.key(), p.value());
    if (p.value().requires_grad()) setup.trainable.emplace_back(p.key(), p.value());
  }
  for (const auto& b : model->named_buffers())
    setup.state.emplace_back(b.key(), b.value());
  setup.loss = [&](const engine::Batch& batch) {
    return torch::nn::functional::cross_entropy(model->forward(batch.images),
                                                batch.labels);
  };
  setup.set_mode = [&] { model->train(); };

  engine::TensorTrainData::Options data_options;
  data_options.batch_size = options.global_batch;
  data_options.shuffle = false;
  data_options.rank = group.rank();
  data_options.world_size = group.size();
  engine::TensorTrainData data(inputs, labels, data_options);

  engine::TrainOptions train;
  train.config.lr = options.lr;
  train.config.momentum = options.momentum;
  train.config.weight_decay = 0;
  train.config.warmup_steps = 0;
  train.config.schedule = "constant";
  train.config.precision = "fp32";
  train.config.max_steps = options.steps;
  train.config.epochs = static_cast<int>((options.steps + data.steps_per_epoch() - 1) /
                                         data.steps_per_epoch());
  train.group = &group;
  train.bucket_bytes = static_cast<int64_t>(options.bucket_bytes);
  RIB_ASSIGN_OR_RETURN(engine::TrainSummary summary,
                       engine::Train(setup, data, train, /*sink=*/nullptr));
  if (summary.steps != options.steps) {
    return absl::InternalError(
        absl::StrCat("trained ", summary.steps, " steps, not ", options.steps));
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : model->named_parameters())
    out.push_back(p.value().detach().clone());
  for (const auto& b : model->named_buffers()) out.push_back(b.value().detach().clone());
  return out;
}

absl::StatusOr<std::vector<torch::Tensor>> Fisher(ProcessGroup* group) {
  const auto [images, labels] = engine::testing::TinyData(26, 21);
  torch::manual_seed(7);
  engine::testing::TinyClassifier model(3, /*use_norm=*/true);
  model->eval();
  engine::NamedTensors params;
  for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  engine::TensorTrainData::Options options;
  options.batch_size = 8;
  options.shuffle = false;
  options.rank = engine::GroupRank(group);
  options.world_size = engine::GroupSize(group);
  engine::TensorTrainData data(images, labels, options);
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<engine::BatchStream> stream, data.Epoch(0));
  return engine::EstimateFisher([&](const torch::Tensor& x) { return model->forward(x); },
                                params, *stream, engine::LabelMask::Identity(3),
                                torch::kCPU, group);
}

namespace {

// Fixed examples for the batch-norm run, the same in every process.
std::pair<torch::Tensor, torch::Tensor> BnData(const engine::ClassifierImpl& shape,
                                               int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor labels = torch::randint(10, {n}, gen, torch::kLong);
  torch::Tensor images =
      torch::randn({n, shape.in_channels(), shape.image_size(), shape.image_size()}, gen);
  // Class-dependent brightness, so there is something to learn.
  images += labels.to(torch::kFloat).view({n, 1, 1, 1}) * 0.5;
  return {images, labels};
}

absl::StatusOr<BnRun> EvaluateOn(engine::Classifier model, ProcessGroup* group,
                                 int64_t batch) {
  const auto [images, labels] = BnData(*model, 40, 99);
  engine::TensorTrainData::Options options;
  options.batch_size = batch;
  options.shuffle = false;
  options.rank = engine::GroupRank(group);
  options.world_size = engine::GroupSize(group);
  engine::TensorTrainData data(images, labels, options);
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<engine::BatchStream> stream, data.Epoch(0));
  engine::EvaluateOptions eval;
  eval.group = group;
  model->eval();
  RIB_ASSIGN_OR_RETURN(std::vector<SubsetCount> counts,
                       engine::Evaluate(model->Inference(), *stream,
                                        engine::LabelMask::Identity(10), eval));
  BnRun run;
  run.model = model;
  run.correct = counts.at(0).correct;
  run.total = counts.at(0).total;
  return run;
}

}  // namespace

absl::StatusOr<BnRun> TrainAndEvaluateBatchNorm(ProcessGroup* group) {
  torch::manual_seed(100 + engine::GroupRank(group));
  RIB_ASSIGN_OR_RETURN(engine::Classifier model,
                       engine::CreateModel("fmnist_resnet", 10));
  const auto [images, labels] = BnData(*model, 48, 12345);
  engine::TensorTrainData::Options data_options;
  data_options.batch_size = 16;
  data_options.seed = 3;
  data_options.rank = engine::GroupRank(group);
  data_options.world_size = engine::GroupSize(group);
  engine::TensorTrainData data(images, labels, data_options);
  engine::MethodContext context;
  context.model = model;
  context.mask = engine::LabelMask::Identity(10);
  context.group = group;
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<engine::TrainingMethod> method,
                       engine::TrainingMethod::Create(MethodSpec{"ft", "ft"}, context));
  engine::TrainOptions train;
  train.config.lr = 0.1;
  train.config.warmup_steps = 0;
  train.config.schedule = "constant";
  train.config.precision = "fp32";
  train.config.epochs = 2;
  train.config.max_steps = 5;
  train.group = group;
  RIB_ASSIGN_OR_RETURN(engine::TrainSummary summary,
                       engine::Train(method->setup(), data, train, /*sink=*/nullptr));
  if (summary.steps != 5) {
    return absl::InternalError(absl::StrCat("trained ", summary.steps, " steps, not 5"));
  }
  RIB_RETURN_IF_ERROR(method->Finish());
  return EvaluateOn(model, group, 8);
}

absl::StatusOr<BnRun> EvaluateBatchNorm(engine::Classifier model) {
  return EvaluateOn(model, nullptr, 7);
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
