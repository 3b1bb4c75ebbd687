// The CPU thread policy: which pool gets the cores, per model; and what rib promises
// about results across policies (README, "Determinism").
#include "worker/engine/threads.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

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

// The product the policy tests compare: K = 300 terms per output element.
struct Product {
  torch::Tensor a, b;
  Product() {
    torch::manual_seed(0);
    a = torch::randn({200, 300});
    b = torch::randn({300, 150});
  }
};

// Same binary, CPU, thread count and policy: the same bits, on every CPU family. This is
// what makes a rerun, a retry on another worker of the same kind, or a resume reproduce
// a result exactly.
TEST(ThreadsTest, SamePolicySameThreadsSameBits) {
  const Product p;
  for (ThreadPolicy policy : {ThreadPolicy::kOpenMp, ThreadPolicy::kBlas}) {
    SetCpuThreads(2, policy);
    const torch::Tensor one = torch::mm(p.a, p.b);
    const torch::Tensor two = torch::mm(p.a, p.b);
    EXPECT_TRUE(torch::equal(one, two)) << "policy " << static_cast<int>(policy);
  }
}

// Across policies the bits may differ (OpenBLAS's AVX2 kernels, which AMD Zen 1-3 and
// Intel Haswell-class CPUs run, split a 2-thread product differently from a 1-thread
// one), so the claim is float rounding: each result is within γ_K·(|A||B|) of the exact
// product for a K-term float dot product, γ_K = K·u / (1 − K·u), u = 2^-24 (Higham,
// "Accuracy and Stability of Numerical Algorithms", §3.5), so two of them within twice
// that. Measured with the AVX2 kernels: max difference 5.3e-5, bound about 1e-4·|A||B|.
TEST(ThreadsTest, PoliciesAgreeWithinFloatRounding) {
  const Product p;
  SetCpuThreads(2, ThreadPolicy::kOpenMp);
  const torch::Tensor one = torch::mm(p.a, p.b);
  SetCpuThreads(2, ThreadPolicy::kBlas);
  const torch::Tensor two = torch::mm(p.a, p.b);
  const double k = static_cast<double>(p.a.size(1));
  const double u = 1.0 / (1 << 24);
  const double gamma = k * u / (1 - k * u);
  const torch::Tensor magnitude =
      p.a.to(torch::kDouble).abs().mm(p.b.to(torch::kDouble).abs());
  const torch::Tensor diff = (one.to(torch::kDouble) - two.to(torch::kDouble)).abs();
  std::cout << "OpenBLAS core '" << BlasCoreName() << "': max |OpenMP − BLAS policy| "
            << diff.max().item<double>() << ", max ratio to the rounding bound "
            << (diff / (2 * gamma * magnitude)).max().item<double>() << std::endl;
  EXPECT_TRUE((diff <= 2 * gamma * magnitude).all().item<bool>());
}

// tests/testing/with_avx2_kernels.sh runs a test binary on the AVX2 code paths and sets
// RIB_EXPECT_BLAS_CORE: the variant checks nothing new unless OpenBLAS obeyed.
TEST(ThreadsTest, BlasCoreIsTheOneAskedFor) {
  const char* want = std::getenv("RIB_EXPECT_BLAS_CORE");
  if (want == nullptr) GTEST_SKIP() << "native kernels: core '" << BlasCoreName() << "'";
  EXPECT_EQ(BlasCoreName(), want);
}

}  // namespace
}  // namespace rib::engine
