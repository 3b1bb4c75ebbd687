// rib-test-labels: cuda
// The CUDA paths of the engine: autocast fp16 with loss scaling and bf16 in the training
// loop, autocast evaluation, and the inference forwards on the GPU (folded batch norm on
// cuDNN, the fused encoder-layer kernel). Exits 77 (skipped) when CUDA is not available,
// which is always the case with Debian's CPU LibTorch; precision_test covers the loss
// scaler's arithmetic on CPU.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/engine/train/tiny_model.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/methods.h"
#include "worker/engine/precision.h"
#include "worker/engine/trainer.h"

namespace rib::engine {
namespace {

using ::rib::engine::testing::AsClassifier;
using ::rib::engine::testing::TinyClassifier;
using ::rib::engine::testing::TinyData;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;

class CudaTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!torch::cuda::is_available()) {
      std::cerr << "CUDA is not available: skipping the CUDA engine tests" << std::endl;
      std::exit(::rib::testing::kSkipExitCode);
    }
  }
};

class LossSink : public EventSink {
 public:
  void OnProgress(int, int, int64_t, int64_t, double loss, double) override {
    losses.push_back(loss);
  }
  std::vector<double> losses;
};

struct Trained {
  TinyClassifier model;
  LossSink sink;
};

// ft of the tiny model on the GPU at `precision`, checkpointing into `dir`.
void TrainOnGpu(const std::string& precision, const std::string& dir, Trained* out) {
  const torch::Device cuda(torch::kCUDA, 0);
  torch::manual_seed(3);
  out->model = TinyClassifier();
  out->model->to(cuda);
  auto [images, labels] = TinyData(64, 1);
  TensorTrainData::Options data_options;
  data_options.batch_size = 16;
  data_options.seed = 7;
  TensorTrainData data(images, labels, data_options);
  MethodContext context;
  context.model = AsClassifier(out->model);
  context.mask = LabelMask::Identity(3);
  context.device = cuda;
  RIB_ASSERT_OK_AND_ASSIGN(auto method,
                           TrainingMethod::Create(MethodSpec{"ft", "ft"}, context));
  TrainOptions options;
  options.config.lr = 0.05;
  options.config.epochs = 8;
  options.config.warmup_steps = 2;
  options.config.batch_size = 16;
  options.config.precision = precision;
  options.device = cuda;
  options.checkpoint_dir = dir;
  options.progress_every = 4;
  ASSERT_THAT(Train(method->setup(), data, options, &out->sink).status(), IsOk());
}

TEST_F(CudaTrainTest, Fp16AutocastWithLossScalingLearnsAndKeepsFp32Weights) {
  ScratchDir dir;
  Trained run;
  TrainOnGpu("fp16", dir.path(), &run);
  ASSERT_GE(run.sink.losses.size(), 2u);
  EXPECT_LT(run.sink.losses.back(), run.sink.losses.front());
  for (const auto& p : run.model->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat);  // master weights stay fp32
    EXPECT_TRUE(p.isfinite().all().item<bool>());
  }
  // The scaler's state is in the checkpoint (no overflow on this model: still 2^16).
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap ckpt, ReadCheckpointFile(dir.Join("epoch-8.ckpt")));
  ASSERT_TRUE(ckpt.count("meta/loss_scale"));
  EXPECT_EQ(ckpt.at("meta/loss_scale").item<double>(), 65536.0);
}

TEST_F(CudaTrainTest, Bf16AutocastLearnsAndAgreesWithFp32) {
  ScratchDir a, b;
  Trained bf16, fp32;
  TrainOnGpu("bf16", a.path(), &bf16);
  TrainOnGpu("fp32", b.path(), &fp32);
  EXPECT_LT(bf16.sink.losses.back(), bf16.sink.losses.front());
  // bf16 keeps 8 mantissa bits: the final loss is close to fp32's, not equal.
  EXPECT_NEAR(bf16.sink.losses.back(), fp32.sink.losses.back(), 0.1);
}

TEST_F(CudaTrainTest, AutocastEvaluationCountsLikeFp32) {
  ScratchDir dir;
  Trained run;
  TrainOnGpu("fp32", dir.path(), &run);
  run.model->eval();
  auto [images, labels] = TinyData(64, 1);
  std::vector<int64_t> correct;
  for (at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    auto stream = MakeTensorStream(images, labels, 32);
    EvaluateOptions options;
    options.device = torch::Device(torch::kCUDA, 0);
    options.precision = Precision{dtype != at::kFloat, dtype, false};
    RIB_ASSERT_OK_AND_ASSIGN(auto counts,
                             Evaluate(AsClassifier(run.model)->Inference(), *stream,
                                      LabelMask::Identity(3), options));
    EXPECT_EQ(counts[0].total, 64);
    correct.push_back(counts[0].correct);
  }
  EXPECT_NEAR(correct[1], correct[0], 2);
  EXPECT_NEAR(correct[2], correct[0], 2);
}

TEST_F(CudaTrainTest, InferenceForwardsMatchOnTheGpu) {
  const torch::Device cuda(torch::kCUDA, 0);
  for (const std::string arch : {"fmnist_resnet", "fmnist_vit"}) {
    torch::manual_seed(5);
    RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel(arch, 10));
    model->to(cuda);
    model->eval();
    auto images = torch::randn({8, 3, 32, 32}, cuda);
    torch::NoGradGuard no_grad;
    auto expected = model->forward(images);
    const ForwardFn inference = model->Inference();
    auto logits = inference(images);
    EXPECT_LT((logits - expected).abs().max().item<double>(), 1e-4) << arch;
    // Under fp16 autocast (as Evaluate runs it for precision auto): close, in fp16.
    AutocastScope autocast(Precision{true, at::kHalf, true});
    auto half = inference(images).to(torch::kFloat);
    EXPECT_LT((half - expected).abs().max().item<double>(),
              2e-2 * (1.0 + expected.abs().max().item<double>()))
        << arch << " fp16";
  }
}

}  // namespace
}  // namespace rib::engine
