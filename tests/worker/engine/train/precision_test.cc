// Mixed precision's CPU-checkable logic: what each precision means on each device, and
// the fp16 loss scaler's arithmetic (CPU tensors; the CUDA training run itself is in
// cuda_train_test, labelled cuda).
#include "worker/engine/precision.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace rib::engine {
namespace {

using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

TEST(PrecisionTest, CpuAlwaysTrainsInFp32) {
  for (const char* p : {"auto", "fp32", "fp16", "bf16"}) {
    RIB_ASSERT_OK_AND_ASSIGN(Precision precision, ResolvePrecision(p, torch::kCPU));
    EXPECT_FALSE(precision.autocast) << p;
    EXPECT_FALSE(precision.loss_scaling) << p;
    EXPECT_EQ(precision.dtype, at::kFloat) << p;
  }
}

TEST(PrecisionTest, CudaAutocastsFp16WithScalingAndBf16Without) {
  const torch::Device cuda(torch::kCUDA, 0);  // a device value; nothing runs on it
  RIB_ASSERT_OK_AND_ASSIGN(Precision fp16, ResolvePrecision("fp16", cuda));
  EXPECT_TRUE(fp16.autocast);
  EXPECT_EQ(fp16.dtype, at::kHalf);
  EXPECT_TRUE(fp16.loss_scaling);
  RIB_ASSERT_OK_AND_ASSIGN(Precision automatic, ResolvePrecision("auto", cuda));
  EXPECT_EQ(automatic.dtype, at::kHalf);
  EXPECT_TRUE(automatic.loss_scaling);
  RIB_ASSERT_OK_AND_ASSIGN(Precision bf16, ResolvePrecision("bf16", cuda));
  EXPECT_TRUE(bf16.autocast);
  EXPECT_EQ(bf16.dtype, at::kBFloat16);
  EXPECT_FALSE(bf16.loss_scaling);
  RIB_ASSERT_OK_AND_ASSIGN(Precision fp32, ResolvePrecision("fp32", cuda));
  EXPECT_FALSE(fp32.autocast);
}

// Issue 15.9: with precision auto, training autocasts on CUDA but evaluation is fp32
// (as the reference code evaluates); an explicit fp16 / bf16 evaluates as it trains.
TEST(PrecisionTest, AutoEvaluatesInFp32) {
  const torch::Device cuda(torch::kCUDA, 0);  // a device value; nothing runs on it
  RIB_ASSERT_OK_AND_ASSIGN(Precision automatic, ResolveEvalPrecision("auto", cuda));
  EXPECT_FALSE(automatic.autocast);
  EXPECT_EQ(automatic.dtype, at::kFloat);
  RIB_ASSERT_OK_AND_ASSIGN(Precision fp16, ResolveEvalPrecision("fp16", cuda));
  EXPECT_TRUE(fp16.autocast);
  EXPECT_EQ(fp16.dtype, at::kHalf);
  RIB_ASSERT_OK_AND_ASSIGN(Precision bf16, ResolveEvalPrecision("bf16", cuda));
  EXPECT_EQ(bf16.dtype, at::kBFloat16);
  RIB_ASSERT_OK_AND_ASSIGN(Precision cpu, ResolveEvalPrecision("fp16", torch::kCPU));
  EXPECT_FALSE(cpu.autocast);
  EXPECT_THAT(ResolveEvalPrecision("fp8", cuda),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'fp8'")));
}

TEST(PrecisionTest, UnknownPrecisionIsNamed) {
  EXPECT_THAT(ResolvePrecision("fp8", torch::kCPU),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'fp8'")));
  EXPECT_THAT(ResolvePrecision("", torch::kCPU),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Parameters with gradients as backward would leave them for a loss scaled by `scale`.
std::vector<torch::Tensor> ParamsWithGrads(const std::vector<std::vector<float>>& grads,
                                           double scale) {
  std::vector<torch::Tensor> params;
  for (const auto& g : grads) {
    auto p = torch::zeros({static_cast<int64_t>(g.size())}).requires_grad_();
    p.mutable_grad() = torch::tensor(g) * scale;
    params.push_back(p);
  }
  // A frozen parameter without a gradient is ignored.
  params.push_back(torch::zeros({2}));
  return params;
}

TEST(LossScalerTest, ScalesLossAndUnscalesGradientsExactly) {
  LossScaler scaler(true);
  EXPECT_EQ(scaler.scale(), LossScaler::kInitialScale);
  EXPECT_EQ(scaler.Scale(torch::tensor(0.75)).item<double>(), 0.75 * 65536.0);
  auto params = ParamsWithGrads({{0.5f, -3.0f}, {1e-3f}}, scaler.scale());
  ASSERT_TRUE(scaler.UnscaleAndCheck(params));
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::tensor({0.5f, -3.0f})));
  EXPECT_TRUE(torch::equal(params[1].grad(), torch::tensor({1e-3f})));
  EXPECT_EQ(scaler.scale(), 65536.0);
  EXPECT_EQ(scaler.good_steps(), 1);
}

TEST(LossScalerTest, NonFiniteGradientSkipsTheStepAndHalvesTheScale) {
  LossScaler scaler(true);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(scaler.UnscaleAndCheck(ParamsWithGrads({{1.0f}}, scaler.scale())));
  EXPECT_FALSE(scaler.UnscaleAndCheck(ParamsWithGrads({{1.0f}, {2.0f, inf}}, 1.0)));
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_EQ(scaler.good_steps(), 0);
  EXPECT_FALSE(scaler.UnscaleAndCheck(ParamsWithGrads({{nan}}, 1.0)));
  EXPECT_EQ(scaler.scale(), 16384.0);
}

TEST(LossScalerTest, DoublesAfterGrowthIntervalGoodSteps) {
  LossScaler scaler(true, /*growth_interval=*/3);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(scaler.UnscaleAndCheck(ParamsWithGrads({{1.0f}}, scaler.scale())));
  }
  EXPECT_EQ(scaler.scale(), 65536.0);
  EXPECT_TRUE(scaler.UnscaleAndCheck(ParamsWithGrads({{1.0f}}, scaler.scale())));
  EXPECT_EQ(scaler.scale(), 131072.0);
  EXPECT_EQ(scaler.good_steps(), 0);
  // A skipped step restarts the count.
  scaler.UnscaleAndCheck(ParamsWithGrads({{1.0f}}, scaler.scale()));
  EXPECT_FALSE(scaler.UnscaleAndCheck(
      ParamsWithGrads({{std::numeric_limits<float>::infinity()}}, 1.0)));
  EXPECT_EQ(scaler.good_steps(), 0);
  EXPECT_EQ(scaler.scale(), 65536.0);
}

TEST(LossScalerTest, DisabledIsTheIdentity) {
  LossScaler scaler(false);
  EXPECT_EQ(scaler.Scale(torch::tensor(0.75)).item<double>(), 0.75);
  auto params =
      ParamsWithGrads({{std::numeric_limits<float>::infinity(), 2.0f}}, /*scale=*/1.0);
  EXPECT_TRUE(scaler.UnscaleAndCheck(params));
  EXPECT_EQ(params[0].grad()[1].item<float>(), 2.0f);
}

}  // namespace
}  // namespace rib::engine
