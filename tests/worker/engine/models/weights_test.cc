// Saving and loading a Classifier: round trips, and each kind of mismatch named.
#include "worker/engine/weights.h"

#include <sys/stat.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "tests/testing/hub_cache.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "worker/engine/model.h"
#include "worker/engine/safetensors.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

torch::Tensor Logits(Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  model->eval();
  return model->forward(x);
}

class WeightsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(WeightsTest, SaveThenLoadGivesTheSameModel) {
  ScratchDir dir;
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel(GetParam(), 10));
  // Train mode once so BatchNorm running statistics move away from their init.
  model->train();
  model->forward(torch::randn({8, 3, 32, 32}));
  const std::string path = dir.Join("m.safetensors");
  ASSERT_THAT(SaveClassifier(model, path, {{"arch", GetParam()}}), IsOk());

  torch::manual_seed(1);  // a different initialisation, overwritten by the load
  RIB_ASSERT_OK_AND_ASSIGN(Classifier loaded, LoadClassifier(GetParam(), 10, path));
  auto x = torch::randn({4, 3, 32, 32});
  EXPECT_TRUE(torch::equal(Logits(model, x), Logits(loaded, x)));
  for (const auto& [name, t] : ModuleState(*model)) {
    bool found = false;
    for (const auto& [name2, t2] : ModuleState(*loaded)) {
      if (name2 == name) {
        found = true;
        EXPECT_TRUE(torch::equal(t, t2)) << name;
      }
    }
    EXPECT_TRUE(found) << name;
  }
  std::map<std::string, std::string> metadata;
  ASSERT_THAT(ReadSafetensors(path, &metadata).status(), IsOk());
  EXPECT_EQ(metadata["arch"], GetParam());
  EXPECT_EQ(metadata["format"], "pt");
}

TEST_P(WeightsTest, HalfPrecisionFilesConvertToFloat) {
  ScratchDir dir;
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel(GetParam(), 10));
  for (auto dtype : {torch::kHalf, torch::kBFloat16}) {
    NamedTensors state;
    for (const auto& [name, t] : ModuleState(*model)) {
      state.emplace_back(name, t.is_floating_point() ? t.to(dtype) : t);
    }
    const std::string path = dir.Join("h.safetensors");
    ASSERT_THAT(WriteSafetensors(path, state), IsOk());
    RIB_ASSERT_OK_AND_ASSIGN(Classifier loaded, LoadClassifier(GetParam(), 10, path));
    // Each tensor is the float32 value its half-precision copy rounds to.
    const NamedTensors original = ModuleState(*model);
    const NamedTensors got = ModuleState(*loaded);
    ASSERT_EQ(got.size(), original.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const torch::Tensor& t = original[i].second;
      EXPECT_EQ(got[i].second.scalar_type(), t.scalar_type()) << got[i].first;
      auto want = t.is_floating_point() ? t.to(dtype).to(t.scalar_type()) : t;
      EXPECT_TRUE(torch::equal(got[i].second, want)) << got[i].first;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, WeightsTest, ::testing::Values("fmnist_vit", "fmnist_resnet"));

TEST(WeightsMismatchTest, WrongShapeNamesTheTensorAndBothShapes) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  const std::string path = dir.Join("m.safetensors");
  ASSERT_THAT(SaveClassifier(model, path), IsOk());
  EXPECT_THAT(LoadClassifier("fmnist_vit", 5, path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("m.safetensors"),
                             HasSubstr("tensor 'head.weight' has shape [10, 96] in the file "
                                       "but the module expects [5, 96]"),
                             HasSubstr("and 1 more"))));
}

TEST(WeightsMismatchTest, MissingAndUnexpectedTensorsAreNamed) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  NamedTensors state = ModuleState(*model);
  NamedTensors without_norm;
  for (const auto& [name, t] : state) {
    if (name != "blocks.2.norm1.bias") without_norm.emplace_back(name, t);
  }
  ASSERT_THAT(WriteSafetensors(dir.Join("a.safetensors"), without_norm), IsOk());
  EXPECT_THAT(LoadClassifier("fmnist_vit", 10, dir.Join("a.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing tensor 'blocks.2.norm1.bias' (module expects "
                                 "shape [96])")));
  NamedTensors extra = state;
  extra.emplace_back("blocks.9.attn.qkv.weight", torch::zeros({3}));
  ASSERT_THAT(WriteSafetensors(dir.Join("b.safetensors"), extra), IsOk());
  EXPECT_THAT(LoadClassifier("fmnist_vit", 10, dir.Join("b.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unexpected tensor 'blocks.9.attn.qkv.weight'")));
  // A ResNet file does not load into a ViT: the first ViT tensor is reported missing.
  RIB_ASSERT_OK_AND_ASSIGN(Classifier resnet, CreateModel("fmnist_resnet", 10));
  ASSERT_THAT(SaveClassifier(resnet, dir.Join("r.safetensors")), IsOk());
  EXPECT_THAT(LoadClassifier("fmnist_vit", 10, dir.Join("r.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing tensor 'cls_token'")));
}

TEST(WeightsMismatchTest, FailedLoadLeavesTheModuleUnchanged) {
  ScratchDir dir;
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  NamedTensors state;
  for (const auto& [name, t] : ModuleState(*model)) state.emplace_back(name, t.clone() + 1);
  state.back().second = torch::zeros({7});
  const auto before = model->named_parameters()["cls_token"].clone();
  EXPECT_FALSE(LoadModuleState(*model, state, "test").ok());
  EXPECT_TRUE(torch::equal(model->named_parameters()["cls_token"], before));
}

TEST(WeightsMismatchTest, MissingBatchNormCounterIsTolerated) {
  ScratchDir dir;
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_resnet", 10));
  NamedTensors state;
  for (const auto& [name, t] : ModuleState(*model)) {
    if (name.find("num_batches_tracked") == std::string::npos) state.emplace_back(name, t);
  }
  ASSERT_THAT(WriteSafetensors(dir.Join("n.safetensors"), state), IsOk());
  EXPECT_THAT(LoadClassifier("fmnist_resnet", 10, dir.Join("n.safetensors")), IsOk());
}

TEST(WeightsMismatchTest, BadPathsAndArchs) {
  ScratchDir dir;
  EXPECT_THAT(LoadClassifier("fmnist_vit", 10, dir.Join("none.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("none.safetensors")));
  EXPECT_THAT(LoadClassifier("resnet7", 10, dir.Join("none.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("resnet7")));
  {
    std::ofstream out(dir.Join("bad.pt"));
    out << "not a zip archive";
  }
  EXPECT_THAT(LoadClassifier("fmnist_vit", 10, dir.Join("bad.pt")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("bad.pt"), HasSubstr("TorchScript"))));
}

// The engine loads a job's weights through OpenUnder (runner.cc): a symlink that stays
// inside the artifact root loads, one pointing out of it is refused naming the path.
TEST(ConfinedWeightsTest, LoadsThroughSymlinksInsideTheRootOnly) {
  ScratchDir root, outside;
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_resnet", 10));
  ASSERT_THAT(SaveClassifier(model, root.Join("m.safetensors")), IsOk());
  ASSERT_THAT(SaveClassifier(model, outside.Join("m.safetensors")), IsOk());
  std::filesystem::create_symlink("m.safetensors", root.Join("alias.safetensors"));
  std::filesystem::create_symlink(outside.Join("m.safetensors"), root.Join("evil.safetensors"));
  RIB_ASSERT_OK_AND_ASSIGN(InputFile alias,
                           OpenUnder(root.path(), "alias.safetensors", "model weights"));
  EXPECT_THAT(LoadClassifier("fmnist_resnet", 10, std::move(alias)), IsOk());
  EXPECT_THAT(OpenUnder(root.path(), "evil.safetensors", "model weights"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("model weights"), HasSubstr("evil.safetensors"))));
}

// Weights by name (spec/hf_hub.h): a hub cache in huggingface_hub's layout (the weights
// a relative symlink into blobs/), here kept at <artifact root>/hf-hub itself, so the
// coordinator's --hf-cache and the workers' mirror are one folder. The path the
// coordinator resolves loads on the worker, config.json's arch and num_classes build
// the model, and the weights are the saved ones.
TEST(HubWeightsTest, TheResolvedSnapshotLoadsFromTheMirror) {
  ScratchDir root, scratch;
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier model, CreateModel("fmnist_vit", 10));
  ASSERT_THAT(SaveClassifier(model, scratch.Join("w.safetensors")), IsOk());
  std::ifstream in(scratch.Join("w.safetensors"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cache = root.Join("hf-hub");
  ::rib::testing::WriteHubSnapshot(
      cache, "rib", "fmnist_vit.test",
      {std::string(40, 'e'), bytes,
       std::string(R"({"architecture": "fmnist_vit", "num_classes": 10,
           "pretrained_cfg": {"input_size": [3, 32, 32], "crop_pct": 1.0}})")});
  RIB_ASSERT_OK_AND_ASSIGN(
      spec::SweepSpec sweep,
      spec::ParseSweepYaml("name: hub\nmodels:\n  - {name: m, weights: "
                           "hf-hub:rib/fmnist_vit.test}\nmethods: [ft]\n"));
  ASSERT_THAT(spec::ResolveHubModels(cache, &sweep), IsOk());
  const ModelSpec& m = sweep.models[0];
  EXPECT_EQ(m.arch, "fmnist_vit.test");
  EXPECT_EQ(m.num_classes, 10);
  EXPECT_EQ(m.preprocessing.image_size, 32);
  RIB_ASSERT_OK_AND_ASSIGN(InputFile file, OpenUnder(root.path(), m.weights, "model weights"));
  RIB_ASSERT_OK_AND_ASSIGN(Classifier loaded,
                           LoadClassifier(m.arch, m.num_classes, std::move(file)));
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  // The same bytes through the same kernels: identical logits.
  EXPECT_TRUE(torch::equal(Logits(model, x), Logits(loaded, x)));
}

// A FIFO would block the reader forever; every loader refuses it at once.
TEST(WeightsMismatchTest, AFifoOrADirectoryIsNotLoaded) {
  ScratchDir dir;
  ASSERT_EQ(::mkfifo(dir.Join("fifo.safetensors").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(dir.Join("fifo.pt").c_str(), 0600), 0);
  for (const char* arch : {"fmnist_vit", "torchscript"}) {
    for (const char* name : {"fifo.safetensors", "fifo.pt"}) {
      EXPECT_THAT(LoadClassifier(arch, 10, dir.Join(name)),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           AllOf(HasSubstr(name), HasSubstr("it is a FIFO"))))
          << arch << " " << name;
    }
  }
  EXPECT_THAT(LoadClassifier("fmnist_vit", 10, dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a directory")));
}

// A file that is not weights (the issue named /etc/hostname) gives an error that says
// so without any of its bytes, not even as the "header length" its first 8 bytes make.
TEST(WeightsMismatchTest, ErrorsNeverQuoteTheFilesBytes) {
  ScratchDir dir;
  const std::string secret = "secret-hostname-0042\n";
  uint64_t as_length = 0;
  for (int i = 7; i >= 0; --i) {
    as_length = (as_length << 8) | static_cast<unsigned char>(secret[i]);
  }
  std::ofstream(dir.Join("h.safetensors")) << secret;
  std::ofstream(dir.Join("h")) << secret;
  std::ofstream(dir.Join("h.pt")) << secret;
  std::ofstream(dir.Join("z.bin"), std::ios::binary) << "PK\3\4" << secret;
  for (const char* name : {"h.safetensors", "h", "h.pt", "z.bin"}) {
    for (const char* arch : {"fmnist_vit", "torchscript"}) {
      const absl::Status status = LoadClassifier(arch, 10, dir.Join(name)).status();
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name << " " << arch;
      EXPECT_THAT(std::string(status.message()),
                  AllOf(HasSubstr(name), Not(HasSubstr("secret")), Not(HasSubstr("host")),
                        Not(HasSubstr(std::to_string(as_length)))))
          << name << " " << arch;
    }
  }
}

TEST(CopyStateTest, CopiesEveryTensor) {
  torch::manual_seed(0);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier a, CreateModel("fmnist_resnet", 10));
  RIB_ASSERT_OK_AND_ASSIGN(Classifier b, CreateModel("fmnist_resnet", 10));
  ASSERT_THAT(CopyClassifierState(*a, *b), IsOk());
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(Logits(a, x), Logits(b, x)));
  RIB_ASSERT_OK_AND_ASSIGN(Classifier c, CreateModel("fmnist_resnet", 7));
  EXPECT_THAT(CopyClassifierState(*a, *c), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    HasSubstr("fc.weight")));
}

}  // namespace
}  // namespace rib::engine
