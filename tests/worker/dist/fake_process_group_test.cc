// The in-memory fake behaves like the real groups (same values as the 3-rank Gloo
// test) and catches contract violations the real ones would turn into hangs.
#include "worker/dist/fake_process_group.h"

#include <torch/torch.h>

#include <thread>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/collectives.h"

namespace rib::dist {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

// Runs fn(rank, group) on one thread per rank and returns each rank's status.
template <typename Fn>
std::vector<absl::Status> RunRanks(std::vector<std::unique_ptr<ProcessGroup>>& groups,
                                   Fn fn) {
  std::vector<absl::Status> statuses(groups.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < groups.size(); ++r) {
    threads.emplace_back([&, r] { statuses[r] = fn(static_cast<int>(r), *groups[r]); });
  }
  for (auto& t : threads) t.join();
  return statuses;
}

TEST(InProcessGroupTest, ThreeRanksAllReduceBroadcastAndCounts) {
  auto groups = CreateInProcessGroups(3);
  ASSERT_EQ(groups.size(), 3u);
  std::vector<std::vector<torch::Tensor>> sums(3), bcasts(3);
  std::vector<std::vector<torch::Tensor>> counts(3);
  auto statuses = RunRanks(groups, [&](int r, ProcessGroup& g) -> absl::Status {
    EXPECT_EQ(g.rank(), r);
    EXPECT_EQ(g.size(), 3);
    EXPECT_EQ(g.backend(), "fake");
    sums[r] = {torch::tensor({r + 1.0, 10.0 * (r + 1)}),
               torch::full({2}, r, torch::kInt64)};
    RIB_RETURN_IF_ERROR(g.AllReduceSum(sums[r]));
    bcasts[r] = {torch::full({3}, 100.0 + r)};
    RIB_RETURN_IF_ERROR(g.Broadcast(bcasts[r], 2));
    RIB_RETURN_IF_ERROR(g.Barrier());
    counts[r] = {torch::tensor({int64_t{r}, int64_t{1}, int64_t{1000}})};
    return engine::AllReduceSum(&g, counts[r]);
  });
  for (int r = 0; r < 3; ++r) {
    ASSERT_THAT(statuses[r], IsOk());
    EXPECT_TRUE(torch::equal(sums[r][0], torch::tensor({6.0, 60.0})));
    EXPECT_TRUE(torch::equal(sums[r][1], torch::full({2}, 3, torch::kInt64)));
    EXPECT_TRUE(torch::equal(bcasts[r][0], torch::full({3}, 102.0)));
    EXPECT_TRUE(torch::equal(counts[r][0],
                             torch::tensor({int64_t{3}, int64_t{3}, int64_t{3000}})));
  }
}

TEST(InProcessGroupTest, MismatchedShapesAreInvalidArgumentOnEveryRank) {
  auto groups = CreateInProcessGroups(2);
  auto statuses = RunRanks(groups, [&](int r, ProcessGroup& g) {
    std::vector<torch::Tensor> t{torch::zeros({r + 1})};
    return g.AllReduceSum(t);
  });
  for (const auto& s : statuses) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("disagree")));
  }
}

TEST(InProcessGroupTest, MissingRankTimesOutUnavailable) {
  auto groups = CreateInProcessGroups(2, absl::Milliseconds(100));
  std::vector<torch::Tensor> t{torch::ones({2})};
  EXPECT_THAT(groups[0]->AllReduceSum(t),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("rank 0")));
  // The group is broken from then on.
  EXPECT_THAT(groups[1]->Barrier(), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace rib::dist
