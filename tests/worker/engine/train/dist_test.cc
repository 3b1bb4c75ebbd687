// Data parallelism over an in-process group: N ranks with the same global batch give
// the weights of one rank (DESIGN §6), rank 0's weights are broadcast first, batch-norm
// buffers are kept in step, and evaluation counts are summed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/testing/status_matchers.h"
#include "tests/worker/engine/train/tiny_model.h"
#include "worker/dist/fake_process_group.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/methods.h"
#include "worker/engine/trainer.h"

namespace rib::engine {
namespace {

using ::rib::engine::testing::AsClassifier;
using ::rib::engine::testing::TinyClassifier;
using ::rib::engine::testing::TinyData;
using ::rib::testing::IsOk;

TrainingConfig Config() {
  TrainingConfig config;
  config.lr = 0.1;
  config.epochs = 2;
  config.warmup_steps = 2;
  config.seed = 3;
  return config;
}

// Trains with ft on `world` ranks; model of rank r is initialised from seed 10 + r
// (only rank 0's initial weights may matter). `norm`: with TinyClassifier's batch norm.
std::vector<TensorMap> TrainRanks(int world, bool norm = false) {
  // 44 = 5 full batches of 8 + a partial one. Not a structured binding: the lambda
  // below captures them, which C++17 allows only for variables.
  const std::pair<torch::Tensor, torch::Tensor> tiny = TinyData(44, 4);
  const torch::Tensor& images = tiny.first;
  const torch::Tensor& labels = tiny.second;
  std::vector<TinyClassifier> models;
  for (int r = 0; r < world; ++r) {
    torch::manual_seed(10 + r);
    models.push_back(TinyClassifier(3, norm));
  }
  auto groups = world > 1 ? dist::CreateInProcessGroups(world)
                          : std::vector<std::unique_ptr<dist::ProcessGroup>>();
  std::vector<absl::Status> statuses(world);
  auto run = [&](int r) {
    TensorTrainData::Options options;
    options.batch_size = 8;
    options.seed = 3;
    options.rank = r;
    options.world_size = world;
    TensorTrainData data(images, labels, options);
    MethodContext context;
    context.model = AsClassifier(models[r]);
    context.mask = LabelMask::Identity(3);
    context.data = &data;
    context.group = world > 1 ? groups[r].get() : nullptr;
    auto method = TrainingMethod::Create(MethodSpec{"ft", "ft"}, context);
    if (!method.ok()) {
      statuses[r] = method.status();
      return;
    }
    TrainOptions train;
    train.config = Config();
    train.group = context.group;
    statuses[r] = Train((*method)->setup(), data, train, nullptr).status();
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back(run, r);
  for (auto& t : threads) t.join();
  std::vector<TensorMap> out;
  for (int r = 0; r < world; ++r) {
    EXPECT_THAT(statuses[r], IsOk()) << "rank " << r;
    out.push_back(CloneWeights(ModelWeights(*models[r])));
  }
  return out;
}

TEST(DistTest, TwoRanksMatchOneRank) {
  std::vector<TensorMap> one = TrainRanks(1);
  std::vector<TensorMap> two = TrainRanks(2);
  ASSERT_EQ(two.size(), 2u);
  for (const auto& [name, t] : one[0]) {
    EXPECT_TRUE(torch::equal(two[0].at(name), two[1].at(name))) << name;
    EXPECT_TRUE(torch::allclose(two[0].at(name), t, 1e-5, 1e-6))
        << name << " max diff " << (two[0].at(name) - t).abs().max().item<double>();
  }
}

// Batch-norm statistics follow each rank's own shard during an epoch; at its end every
// rank takes rank 0's (the ones saved), so all ranks evaluate the saved model.
TEST(DistTest, BatchNormBuffersAreKeptInStepAcrossRanks) {
  std::vector<TensorMap> two = TrainRanks(2, /*norm=*/true);
  ASSERT_EQ(two.size(), 2u);
  ASSERT_TRUE(two[0].count("norm.running_mean"));
  for (const auto& [name, t] : two[0]) {
    EXPECT_TRUE(torch::equal(t, two[1].at(name))) << name;
  }
  // The statistics were updated (not compared as two untouched initial buffers).
  EXPECT_GT(two[0].at("norm.running_mean").abs().max().item<double>(), 1e-3);
}

TEST(DistTest, EvaluationCountsAreSummedOverRanks) {
  torch::Tensor logits = torch::tensor({{2.0, 1.0}, {0.0, 3.0}, {5.0, 1.0}, {1.0, 0.0}});
  torch::Tensor labels = torch::tensor({0, 1, 1, 0}, torch::kLong);
  auto groups = dist::CreateInProcessGroups(2);
  std::vector<absl::StatusOr<std::vector<SubsetCounts>>> results(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto stream = MakeTensorStream(logits.slice(0, 2 * r, 2 * r + 2),
                                     labels.slice(0, 2 * r, 2 * r + 2), 8);
      EvaluateOptions options;
      options.group = groups[r].get();
      results[r] = Evaluate([](const torch::Tensor& x) { return x; }, *stream,
                            LabelMask::Identity(2), options);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_THAT(results[r], IsOk());
    EXPECT_EQ((*results[r])[0].correct, 3);
    EXPECT_EQ((*results[r])[0].total, 4);
  }
}

}  // namespace
}  // namespace rib::engine
