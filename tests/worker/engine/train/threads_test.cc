// The CPU thread policy: which pool gets the cores, per model.
#include "worker/engine/threads.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"
#include "worker/engine/model.h"

namespace rib::engine {
namespace {

// OpenBLAS's own view of its thread count; -1 when the BLAS is not OpenBLAS.
int BlasThreads() {
  using GetFn = int (*)();
  auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get == nullptr ? -1 : get();
}

TEST(ThreadsTest, PolicyFollowsTheModelsMatrixSize) {
  RIB_ASSERT_OK_AND_ASSIGN(Classifier fmnist_vit, CreateModel("fmnist_vit", 10));
  RIB_ASSERT_OK_AND_ASSIGN(Classifier fmnist_resnet, CreateModel("fmnist_resnet", 10));
  RIB_ASSERT_OK_AND_ASSIGN(Classifier vit_small,
                           CreateModel("vit_small_patch16_224", 10));
  EXPECT_EQ(PreferredThreadPolicy(*fmnist_vit), ThreadPolicy::kOpenMp);
  EXPECT_EQ(PreferredThreadPolicy(*fmnist_resnet), ThreadPolicy::kOpenMp);
  EXPECT_EQ(PreferredThreadPolicy(*vit_small), ThreadPolicy::kBlas);
}

TEST(ThreadsTest, OnePoolGetsTheCoresTheOtherOneThread) {
  SetCpuThreads(3, ThreadPolicy::kOpenMp);
  EXPECT_EQ(torch::get_num_threads(), 3);
  if (BlasThreadControl() == "openblas") EXPECT_EQ(BlasThreads(), 1);

  SetCpuThreads(3, ThreadPolicy::kBlas);
  if (BlasThreadControl() == "openblas") {
    EXPECT_EQ(torch::get_num_threads(), 1);
    EXPECT_EQ(BlasThreads(), 3);
  } else {  // no BLAS pool to give them to: OpenMP keeps them
    EXPECT_EQ(torch::get_num_threads(), 3);
  }
}

TEST(ThreadsTest, ResultsDoNotDependOnThePolicy) {
  torch::manual_seed(0);
  torch::Tensor a = torch::randn({200, 300});
  torch::Tensor b = torch::randn({300, 150});
  SetCpuThreads(2, ThreadPolicy::kOpenMp);
  torch::Tensor one = torch::mm(a, b);
  SetCpuThreads(2, ThreadPolicy::kBlas);
  torch::Tensor two = torch::mm(a, b);
  EXPECT_TRUE(torch::equal(one, two));
}

}  // namespace
}  // namespace rib::engine
