// DESIGN §6: with the same global batch, N ranks and one rank produce the same weights.
// Two real Gloo rank processes train TinyMlp through the product's trainer
// (engine::Train: each rank on its half of every global batch, gradients averaged by
// engine::AllReduceGradients, initial weights from rank 0's broadcast); the test
// process trains the same model alone on the whole batches. So the test fails when the
// trainer's averaging or broadcast is broken.
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/dist/dist_test_model.h"
#include "worker/agent/launcher.h"
#include "worker/dist/process_group.h"
#include "worker/engine/collectives.h"

namespace rib::dist {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;

// Summation order differs (two half-batch means averaged vs one full-batch mean, plus
// the all-reduce), so results agree to float rounding, not bit for bit. Measured: see
// the test's output line "max |2 ranks - 1 rank|".
constexpr double kTolerance = 1e-5;
constexpr int kSteps = 12;
constexpr int kGlobalBatch = 16;

std::vector<torch::Tensor> Load(const std::string& path) {
  std::vector<torch::Tensor> tensors;
  torch::load(tensors, path);
  return tensors;
}

TEST(DataParallelTest, TwoGlooRanksMatchOneRankWithTheSameGlobalBatch) {
  if (!GlooAvailable()) GTEST_SKIP() << "no Gloo in this build";
  const char* helper = std::getenv("RIB_DIST_RANK_HELPER");
  ASSERT_NE(helper, nullptr);
  ScratchDir dir;
  agent::RankLaunchOptions launch;
  launch.argv = {helper, "train", dir.path(), std::to_string(kSteps),
                 std::to_string(kGlobalBatch)};
  launch.world_size = 2;
  launch.log_dir = dir.Join("logs");
  launch.overall_timeout = absl::Seconds(60);
  RIB_ASSERT_OK_AND_ASSIGN(auto ranks, agent::RankGroup::Start(launch));
  ASSERT_THAT(ranks->Wait(), IsOk());
  const std::vector<torch::Tensor> rank0 = Load(dir.Join("rank0.pt"));
  const std::vector<torch::Tensor> rank1 = Load(dir.Join("rank1.pt"));

  // One rank, same global batch; rank 0's init seed (the one broadcast).
  testing::TrainOptions single;
  single.init_seed = 100;
  single.steps = kSteps;
  single.global_batch = kGlobalBatch;
  std::unique_ptr<ProcessGroup> one = CreateSingleProcessGroup();
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<torch::Tensor> reference,
                           testing::Train(single, *one));

  ASSERT_EQ(rank0.size(), reference.size());
  // The ranks apply identical averaged gradients to identical weights: bit-identical.
  EXPECT_EQ(testing::MaxAbsDiff(rank0, rank1), 0.0);
  const double diff = testing::MaxAbsDiff(rank0, reference);
  std::cout << "max |2 ranks - 1 rank| over all weights after " << kSteps
            << " steps: " << diff << " (tolerance " << kTolerance << ")" << std::endl;
  EXPECT_LE(diff, kTolerance);

  const std::vector<std::string> names = testing::WeightNames();
  ASSERT_EQ(names.size(), reference.size());
  auto index = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) - names.begin();
  };
  // Training moved the weights (the comparison is not between two untouched inits).
  torch::manual_seed(100);
  testing::TinyMlp init;
  EXPECT_GT(
      (init->fc1->weight - reference[index("fc1.weight")]).abs().max().item<double>(),
      1e-2);
  // Rank 1 started from different random weights (seed 101): the broadcast, not the
  // seed, made them equal. Its frozen parameter and buffer came from rank 0 too, and
  // they and the unused layer were not trained.
  torch::manual_seed(101);
  testing::TinyMlp rank1_init;
  EXPECT_GT((rank1_init->marker - rank1[index("marker")]).abs().max().item<double>(),
            1e-3);
  EXPECT_TRUE(torch::equal(init->marker, rank1[index("marker")]));
  EXPECT_TRUE(torch::equal(init->frozen_scale, rank1[index("frozen_scale")]));
  EXPECT_TRUE(torch::equal(init->unused->weight, rank1[index("unused.weight")]));
}

TEST(DataParallelTest, AllReduceGradientsIsANoOpForOneRank) {
  torch::manual_seed(3);
  testing::TinyMlp model;
  torch::Tensor loss = model->forward(torch::randn({4, 8})).sum();
  loss.backward();
  const torch::Tensor before = model->fc1->weight.grad().clone();
  std::unique_ptr<ProcessGroup> one = CreateSingleProcessGroup();
  EXPECT_THAT(engine::AllReduceGradients(one.get(), model->parameters()), IsOk());
  EXPECT_TRUE(torch::equal(model->fc1->weight.grad(), before));
  EXPECT_FALSE(model->unused->weight.grad().defined());
}

}  // namespace
}  // namespace rib::dist
