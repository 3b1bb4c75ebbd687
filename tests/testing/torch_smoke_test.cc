#include <torch/torch.h>
#include "gtest/gtest.h"
TEST(TorchSmoke, MatmulMatches) {
  torch::manual_seed(0);
  auto a = torch::ones({2, 3});
  auto b = torch::ones({3, 4});
  EXPECT_EQ(torch::matmul(a, b).sum().item<float>(), 24.0f);
}
