// The engine's collectives (collectives.h) over the in-process fake group: gradient
// averaging across buckets, which gradients are reduced, the broadcast from any root.
// The multi-process Gloo check of the same code, through the trainer, is
// tests/worker/dist/data_parallel_test.cc.
#include "worker/engine/collectives.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/testing/status_matchers.h"
#include "worker/dist/fake_process_group.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;

// Runs fn(rank, group) on one thread per rank and returns each rank's status.
template <typename Fn>
std::vector<absl::Status> RunRanks(
    std::vector<std::unique_ptr<dist::ProcessGroup>>& groups, Fn fn) {
  std::vector<absl::Status> statuses(groups.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < groups.size(); ++r) {
    threads.emplace_back(
        [&, r] { statuses[r] = fn(static_cast<int>(r), groups[r].get()); });
  }
  for (auto& t : threads) t.join();
  return statuses;
}

TEST(CollectivesTest, AllReduceGradientsAveragesAcrossRanks) {
  auto groups = dist::CreateInProcessGroups(2);
  std::vector<torch::nn::Linear> models;
  for (int r = 0; r < 2; ++r) models.emplace_back(torch::nn::Linear(3, 2));
  for (int r = 0; r < 2; ++r) {
    torch::NoGradGuard no_grad;
    models[r]->weight.fill_(0.5);
    models[r]->bias.fill_(0);
  }
  // d(sum(W x))/dW = rows of x: rank 0 uses x = (1,2,3), rank 1 x = (3,2,1).
  const std::vector<torch::Tensor> xs{torch::tensor({{1.0f, 2.0f, 3.0f}}),
                                      torch::tensor({{3.0f, 2.0f, 1.0f}})};
  auto statuses = RunRanks(groups, [&](int r, dist::ProcessGroup* g) {
    models[r]->forward(xs[r]).sum().backward();
    // 8 bytes: every gradient is a bucket of its own.
    return AllReduceGradients(g, models[r]->parameters(), /*bucket_bytes=*/8);
  });
  for (int r = 0; r < 2; ++r) {
    ASSERT_THAT(statuses[r], IsOk());
    EXPECT_TRUE(torch::allclose(models[r]->weight.grad(),
                                torch::tensor({{2.0f, 2.0f, 2.0f}, {2.0f, 2.0f, 2.0f}})));
    EXPECT_TRUE(torch::allclose(models[r]->bias.grad(), torch::tensor({1.0f, 1.0f})));
  }
}

// A rank whose shard was empty has no gradients: they count as zero in the mean. A
// gradient no rank has stays undefined (as with one rank, the optimiser skips it), and
// a parameter that does not require grad is left alone.
TEST(CollectivesTest, AllReduceGradientsTreatsMissingGradientsAsOneRankWould) {
  auto groups = dist::CreateInProcessGroups(2);
  std::vector<torch::Tensor> used(2), unused(2), frozen(2);
  for (int r = 0; r < 2; ++r) {
    used[r] = torch::zeros({3}, torch::requires_grad());
    unused[r] = torch::zeros({2}, torch::requires_grad());
    frozen[r] = torch::zeros({2});
  }
  auto statuses = RunRanks(groups, [&](int r, dist::ProcessGroup* g) {
    if (r == 0) (used[r] * torch::tensor({2.0f, 4.0f, 6.0f})).sum().backward();
    return AllReduceGradients(g, {used[r], unused[r], frozen[r]});
  });
  for (int r = 0; r < 2; ++r) {
    ASSERT_THAT(statuses[r], IsOk());
    ASSERT_TRUE(used[r].grad().defined()) << "rank " << r;
    EXPECT_TRUE(torch::equal(used[r].grad(), torch::tensor({1.0f, 2.0f, 3.0f})));
    EXPECT_FALSE(unused[r].grad().defined()) << "rank " << r;
    EXPECT_FALSE(frozen[r].grad().defined()) << "rank " << r;
  }
}

TEST(CollectivesTest, BroadcastCopiesRootWeightsAndBuffers) {
  auto groups = dist::CreateInProcessGroups(2);
  std::vector<torch::nn::BatchNorm1d> models;
  for (int r = 0; r < 2; ++r) {
    models.emplace_back(torch::nn::BatchNorm1d(4));
    torch::NoGradGuard no_grad;
    models[r]->weight.fill_(r + 1.0);
    models[r]->running_mean.fill_(10.0 * (r + 1));
  }
  auto statuses = RunRanks(groups, [&](int r, dist::ProcessGroup* g) {
    std::vector<torch::Tensor> state = models[r]->parameters();
    for (const auto& b : models[r]->buffers()) state.push_back(b);
    return Broadcast(g, state, /*root=*/1);
  });
  for (int r = 0; r < 2; ++r) {
    ASSERT_THAT(statuses[r], IsOk());
    EXPECT_TRUE(torch::equal(models[r]->weight, torch::full({4}, 2.0f)));
    EXPECT_TRUE(torch::equal(models[r]->running_mean, torch::full({4}, 20.0f)));
  }
}

TEST(CollectivesTest, NoGroupOrOneRankChangesNothingAndCheckTheRoot) {
  torch::Tensor t = torch::tensor({1.5, -2.0});
  torch::Tensor p = torch::ones({2}, torch::requires_grad());
  EXPECT_THAT(AllReduceSum(nullptr, {t}), IsOk());
  EXPECT_THAT(Broadcast(nullptr, {t}), IsOk());
  EXPECT_THAT(AllReduceGradients(nullptr, {p}), IsOk());
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.5, -2.0})));
  EXPECT_FALSE(p.grad().defined());
  EXPECT_EQ(GroupRank(nullptr), 0);
  EXPECT_EQ(GroupSize(nullptr), 1);
  EXPECT_THAT(Broadcast(nullptr, {t}, /*root=*/1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto groups = dist::CreateInProcessGroups(2);
  EXPECT_THAT(Broadcast(groups[0].get(), {t}, /*root=*/2),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib::engine
