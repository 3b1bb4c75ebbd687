// Parity with PyTorch: make_parity_fixtures.py builds timm-named ViTs and torchvision
// ResNets in Python (Debian's python3-torch), randomises every weight, and saves weights,
// inputs and logits; the C++ models load the weights and must reproduce the logits within
// 1e-4, with forward() and with the evaluation forward (Inference()). Skipped (exit 77)
// only when no python3 with torch and torchvision is found.
#include <torch/torch.h>

#include <cstdlib>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "worker/engine/model.h"
#include "worker/engine/safetensors.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;

constexpr double kTolerance = 1e-4;

// The first interpreter that imports torch and torchvision: $RIB_PYTHON, the system's
// python3 (Debian's python3-torch lives there), then python3 on PATH.
std::string FindPython() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("RIB_PYTHON")) candidates.push_back(p);
  candidates.push_back("/usr/bin/python3");
  candidates.push_back("python3");
  for (const auto& py : candidates) {
    const std::string cmd = py + " -c 'import torch, torchvision' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

class ParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string python = FindPython();
    if (python.empty()) {
      std::fprintf(stderr, "no python3 with torch and torchvision: skipping\n");
      std::exit(::rib::testing::kSkipExitCode);
    }
    dir_ = new ScratchDir();
    const std::string script =
        ::rib::testing::SourceDir() + "/tests/worker/engine/models/make_parity_fixtures.py";
    const std::string cmd =
        python + " " + script + " " + dir_->path() + " > " + dir_->Join("log") + " 2>&1";
    script_status_ = std::system(cmd.c_str());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(script_status_, 0) << "make_parity_fixtures.py failed; see its log";
  }

  static std::map<std::string, torch::Tensor> Io(const std::string& name) {
    auto tensors = ReadSafetensors(dir_->Join(name + ".io.safetensors"));
    EXPECT_THAT(tensors.status(), IsOk());
    std::map<std::string, torch::Tensor> out;
    if (tensors.ok()) {
      for (auto& [k, v] : *tensors) out[k] = v;
    }
    return out;
  }

  static void ExpectLogitsMatch(const std::string& arch, const std::string& weights,
                                const std::string& case_name) {
    auto model = LoadClassifier(arch, 10, dir_->Join(weights));
    ASSERT_THAT(model.status(), IsOk());
    auto io = Io(case_name);
    (*model)->eval();
    {
      torch::NoGradGuard no_grad;
      auto logits = (*model)->forward(io.at("input"));
      const double diff = (logits - io.at("logits")).abs().max().item<double>();
      EXPECT_LT(diff, kTolerance) << arch << " from " << weights;
      EXPECT_EQ(logits.sizes(), io.at("logits").sizes());
    }
    // Evaluation's forward (folded batch norm on oneDNN, fused encoder layers) must
    // reproduce PyTorch's logits too, as Evaluate() runs it.
    const ForwardFn inference = (*model)->Inference();
    c10::InferenceMode inference_mode;
    auto logits = inference(io.at("input"));
    const double diff = (logits - io.at("logits")).abs().max().item<double>();
    EXPECT_LT(diff, kTolerance) << arch << " from " << weights << ", Inference()";
    EXPECT_EQ(logits.sizes(), io.at("logits").sizes());
  }

  static ScratchDir* dir_;
  static int script_status_;
};

ScratchDir* ParityTest::dir_ = nullptr;
int ParityTest::script_status_ = -1;

TEST_F(ParityTest, FmnistVitLogits) {
  ExpectLogitsMatch("fmnist_vit", "fmnist_vit.safetensors", "fmnist_vit");
}

TEST_F(ParityTest, ClipPreNormVitLogits) {
  ExpectLogitsMatch("vit_tiny_patch16_clip_224", "vit_tiny_patch16_clip_224.safetensors",
                    "vit_tiny_patch16_clip_224");
}

TEST_F(ParityTest, TorchvisionResNet18Logits) {
  ExpectLogitsMatch("resnet18", "resnet18.safetensors", "resnet18");
}

TEST_F(ParityTest, TorchvisionResNet50Logits) {
  ExpectLogitsMatch("resnet50", "resnet50.safetensors", "resnet50");
}

TEST_F(ParityTest, TorchScriptWeightsLoadIntoTheNativeModel) {
  ExpectLogitsMatch("resnet18", "resnet18.pt", "resnet18");
}

TEST_F(ParityTest, TorchScriptModuleRunsAsIs) {
  ExpectLogitsMatch("torchscript", "resnet18.pt", "resnet18");
}

TEST_F(ParityTest, TrainingLossAndGradientsMatch) {
  auto model = LoadClassifier("fmnist_vit", 10, dir_->Join("fmnist_vit.safetensors"));
  ASSERT_THAT(model.status(), IsOk());
  auto io = Io("fmnist_vit");
  auto loss = torch::nn::functional::cross_entropy((*model)->forward(io.at("input")),
                                                   io.at("labels"));
  loss.backward();
  EXPECT_NEAR(loss.item<double>(), io.at("loss").item<double>(), kTolerance);
  auto params = (*model)->named_parameters();
  for (const char* name : {"head.weight", "blocks.0.attn.qkv.weight",
                           "patch_embed.proj.weight", "pos_embed"}) {
    const auto& want = io.at(std::string("grad.") + name);
    const double diff = (params[name].grad() - want).abs().max().item<double>();
    EXPECT_LT(diff, kTolerance) << name;
  }
}

}  // namespace
}  // namespace rib::engine
