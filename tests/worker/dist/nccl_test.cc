// rib-test-labels: cuda
// The NCCL path of CreateProcessGroup (CUDA builds with a GPU). Exits 77 (skipped)
// when CUDA is not available, which is always the case with Debian's CPU LibTorch.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/dist/collectives_expectation.h"
#include "worker/agent/launcher.h"
#include "worker/dist/process_group.h"
#include "worker/engine/collectives.h"

namespace rib::dist {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;

void SkipWithoutCuda() {
  if (!torch::cuda::is_available()) {
    std::cerr << "CUDA is not available: skipping the NCCL tests" << std::endl;
    std::exit(::rib::testing::kSkipExitCode);
  }
}

TEST(NcclProcessGroupTest, GroupOfOneRunsCollectivesOnTheGpu) {
  SkipWithoutCuda();
  ASSERT_TRUE(NcclAvailable()) << "CUDA is available but this build has no NCCL";
  RendezvousOptions options;
  options.backend = "nccl";
  RIB_ASSERT_OK_AND_ASSIGN(auto group, CreateProcessGroup(options));
  EXPECT_EQ(group->backend(), "nccl");
  EXPECT_TRUE(group->device().is_cuda());
  std::vector<torch::Tensor> t{torch::tensor({1.5f, -2.0f}).to(group->device())};
  EXPECT_THAT(group->AllReduceSum(t), IsOk());
  EXPECT_TRUE(torch::equal(t[0].cpu(), torch::tensor({1.5f, -2.0f})));
  EXPECT_THAT(group->Broadcast(t, 0), IsOk());
  EXPECT_THAT(group->Barrier(), IsOk());
  torch::Tensor counts = torch::tensor({int64_t{7}, int64_t{9}});
  EXPECT_THAT(engine::AllReduceSum(group.get(), {counts}), IsOk());
  EXPECT_TRUE(torch::equal(counts, torch::tensor({int64_t{7}, int64_t{9}})));
}

TEST(NcclProcessGroupTest, OneRankPerGpuCollectives) {
  SkipWithoutCuda();
  const int n = std::min<int>(static_cast<int>(torch::cuda::device_count()), 4);
  if (n < 2) GTEST_SKIP() << "needs two GPUs (NCCL allows one rank per GPU)";
  const char* helper = std::getenv("RIB_DIST_RANK_HELPER");
  ASSERT_NE(helper, nullptr);
  ScratchDir dir;
  agent::RankLaunchOptions launch;
  launch.argv = {helper, "collectives", dir.path()};
  launch.world_size = n;
  launch.env["RIB_TEST_BACKEND"] = "nccl";
  launch.log_dir = dir.Join("logs");
  launch.overall_timeout = absl::Seconds(90);
  RIB_ASSERT_OK_AND_ASSIGN(auto ranks, agent::RankGroup::Start(launch));
  ASSERT_THAT(ranks->Wait(), IsOk());
  for (int r = 0; r < n; ++r) {
    std::ifstream in(dir.Join(absl::StrCat("rank", r, ".txt")));
    std::stringstream got;
    got << in.rdbuf();
    EXPECT_EQ(got.str(), testing::ExpectedCollectives(n)) << "rank " << r;
  }
}

}  // namespace
}  // namespace rib::dist
