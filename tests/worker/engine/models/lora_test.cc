// LoRA on the ViT: adapters on the q and v thirds of qkv, no-op at start, merge equals
// the unmerged model, base weights untouched by training the adapters.
#include <torch/torch.h>

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "worker/engine/model.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;

torch::Tensor Eval(Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  model->eval();
  return model->forward(x);
}

std::set<std::string> Names(const Classifier& model) {
  std::set<std::string> out;
  for (const auto& item : model->named_parameters()) out.insert(item.key());
  return out;
}

TEST(LoraTest, AdaptersAreNamedShapedAndStartAsANoOp) {
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  const auto base_names = Names(model);
  auto x = torch::randn({3, 3, 32, 32});
  auto before = Eval(model, x);
  ASSERT_THAT(model->EnableLora(8, 1.0), IsOk());
  auto params = model->named_parameters();
  EXPECT_THAT(params["blocks.0.attn.lora_q_A"].sizes().vec(), ElementsAre(8, 96));
  EXPECT_THAT(params["blocks.0.attn.lora_q_B"].sizes().vec(), ElementsAre(96, 8));
  EXPECT_THAT(params["blocks.3.attn.lora_v_A"].sizes().vec(), ElementsAre(8, 96));
  EXPECT_THAT(params["blocks.3.attn.lora_v_B"].sizes().vec(), ElementsAre(96, 8));
  EXPECT_EQ(Names(model).size(), base_names.size() + 4 * 4);
  EXPECT_TRUE(torch::equal(params["blocks.1.attn.lora_q_B"], torch::zeros({96, 8})));
  EXPECT_GT(params["blocks.1.attn.lora_q_A"].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(Eval(model, x), before));
}

TEST(LoraTest, MergedEqualsUnmergedAndRemovesAdapters) {
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  const auto base_names = Names(model);
  auto qkv_before = model->named_parameters()["blocks.2.attn.qkv.weight"].clone();
  auto bias_before = model->named_parameters()["blocks.2.attn.qkv.bias"].clone();
  ASSERT_THAT(model->EnableLora(4, 2.0), IsOk());
  {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      if (item.key().find("lora_") != std::string::npos &&
          item.key().find("_B") != std::string::npos) {
        item.value().normal_(0.0, 0.05);
      }
    }
  }
  auto x = torch::randn({3, 3, 32, 32});
  auto unmerged = Eval(model, x);
  ASSERT_THAT(model->MergeLora(), IsOk());
  EXPECT_EQ(Names(model), base_names);
  auto merged = Eval(model, x);
  EXPECT_TRUE(torch::allclose(merged, unmerged, 1e-5, 1e-5))
      << (merged - unmerged).abs().max().item<double>();
  // Only the q and v thirds of qkv moved; k and the bias did not.
  auto qkv = model->named_parameters()["blocks.2.attn.qkv.weight"];
  EXPECT_FALSE(torch::equal(qkv.narrow(0, 0, 96), qkv_before.narrow(0, 0, 96)));
  EXPECT_TRUE(torch::equal(qkv.narrow(0, 96, 96), qkv_before.narrow(0, 96, 96)));
  EXPECT_FALSE(torch::equal(qkv.narrow(0, 192, 96), qkv_before.narrow(0, 192, 96)));
  EXPECT_TRUE(torch::equal(model->named_parameters()["blocks.2.attn.qkv.bias"], bias_before));
  // The merged model is an ordinary fmnist_vit again: it saves and reloads as one.
  ::rib::testing::ScratchDir dir;
  ASSERT_THAT(SaveClassifier(model, dir.Join("merged.safetensors")), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(Classifier reloaded,
                           LoadClassifier("fmnist_vit", 10, dir.Join("merged.safetensors")));
  EXPECT_TRUE(torch::equal(Eval(reloaded, x), merged));
}

TEST(LoraTest, TrainingAdaptersLeavesFrozenBaseUnchanged) {
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  ASSERT_THAT(model->EnableLora(8, 1.0), IsOk());
  std::vector<torch::Tensor> trainable;
  std::map<std::string, torch::Tensor> base;
  for (auto& item : model->named_parameters()) {
    if (item.key().find("lora_") != std::string::npos) {
      trainable.push_back(item.value());
    } else {
      item.value().set_requires_grad(false);
      base[item.key()] = item.value().clone();
    }
  }
  torch::optim::SGD sgd(trainable, torch::optim::SGDOptions(0.1).momentum(0.9));
  model->train();
  auto x = torch::randn({8, 3, 32, 32});
  auto y = torch::randint(0, 10, {8});
  double first_loss = 0.0, last_loss = 0.0;
  for (int step = 0; step < 5; ++step) {
    sgd.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    if (step == 0) {
      // B starts at zero, so only B gets a gradient on the first step.
      auto params = model->named_parameters();
      EXPECT_GT(params["blocks.0.attn.lora_q_B"].grad().abs().sum().item<double>(), 0.0);
      EXPECT_EQ(params["blocks.0.attn.lora_q_A"].grad().abs().sum().item<double>(), 0.0);
      first_loss = loss.item<double>();
    }
    last_loss = loss.item<double>();
    sgd.step();
  }
  EXPECT_LT(last_loss, first_loss);
  for (auto& item : model->named_parameters()) {
    auto it = base.find(item.key());
    if (it != base.end()) EXPECT_TRUE(torch::equal(item.value(), it->second)) << item.key();
  }
}

TEST(LoraTest, MisuseIsRejected) {
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  EXPECT_THAT(model->MergeLora(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(model->EnableLora(0, 1.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(model->EnableLora(8, 0.0), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(model->EnableLora(8, 1.0), IsOk());
  EXPECT_THAT(model->EnableLora(8, 1.0), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(model->MergeLora(), IsOk());
  EXPECT_THAT(model->MergeLora(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // Enabled again after a merge: a fresh set of adapters.
  EXPECT_THAT(model->EnableLora(2, 1.0), IsOk());
}

}  // namespace
}  // namespace rib::engine
