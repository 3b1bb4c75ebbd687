// torch.save state_dicts (torchvision's .pth) read without running them: python3 writes
// the fixtures at test time (make_pth_fixtures.py), rib reads them and every tensor must
// equal, bit for bit, the same tensors written as safetensors; hostile archives are
// refused by name and their payload never runs. Skipped (exit 77) only when no python3
// with torch and torchvision is found.
#include "worker/engine/pth_archive.h"

#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/weights_format.h"
#include "tests/testing/python_script.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "worker/engine/model.h"
#include "worker/engine/safetensors.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class PthArchiveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::rib::testing::SkipUnlessPythonHas("torch, torchvision");
    dir_ = new ScratchDir();
    script_status_ = ::rib::testing::RunPythonScript(
        "tests/worker/engine/models/make_pth_fixtures.py", dir_->path(), dir_->Join("log"));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(script_status_, 0) << "see " << dir_->Join("log"); }

  static absl::StatusOr<NamedTensors> Read(const std::string& rel) {
    RIB_ASSIGN_OR_RETURN(InputFile file, OpenRegularFile(dir_->Join(rel), "weights"));
    return ReadTorchStateDict(file);
  }
  // Same names in the same order, same dtypes and shapes, same bytes.
  static void ExpectBitEqual(const NamedTensors& got, const NamedTensors& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      const auto& [name, t] = got[k];
      SCOPED_TRACE(name);
      EXPECT_EQ(name, want[k].first);
      const torch::Tensor w = want[k].second.contiguous();
      EXPECT_EQ(t.scalar_type(), w.scalar_type());
      EXPECT_EQ(t.sizes(), w.sizes());
      ASSERT_TRUE(t.is_contiguous());
      ASSERT_EQ(t.nbytes(), w.nbytes());
      EXPECT_EQ(std::memcmp(t.data_ptr(), w.data_ptr(), t.nbytes()), 0);
    }
  }

  static ScratchDir* dir_;
  static int script_status_;
};
ScratchDir* PthArchiveTest::dir_ = nullptr;
int PthArchiveTest::script_status_ = -1;

TEST_F(PthArchiveTest, TorchvisionResnet18StateDictEqualsItsSafetensorsCopy) {
  RIB_ASSERT_OK_AND_ASSIGN(NamedTensors pth, Read("resnet18.pth"));
  RIB_ASSERT_OK_AND_ASSIGN(NamedTensors st,
                           ReadSafetensors(dir_->Join("resnet18.safetensors")));
  EXPECT_EQ(pth.size(), 122u);  // 62 parameters, 60 BatchNorm buffers
  ExpectBitEqual(pth, st);
}

TEST_F(PthArchiveTest, ViewsAndEveryDtypeEqualTheirContiguousValues) {
  RIB_ASSERT_OK_AND_ASSIGN(NamedTensors pth, Read("dtypes.pth"));
  RIB_ASSERT_OK_AND_ASSIGN(NamedTensors st,
                           ReadSafetensors(dir_->Join("dtypes.safetensors")));
  ExpectBitEqual(pth, st);
  // The slice base[1:4, 2:5] of a 5x6 storage starts at element 8.
  EXPECT_EQ(pth[2].first, "slice");
  EXPECT_EQ(pth[2].second[0][0].item<float>(), pth[0].second[1][2].item<float>());
}

TEST_F(PthArchiveTest, LoadClassifierTakesAPthLikeASafetensorsFile) {
  InputFile pth_file = *OpenRegularFile(dir_->Join("resnet18.pth"), "weights");
  EXPECT_TRUE(spec::IsTorchStateDictArchive(pth_file.fd()));
  EXPECT_FALSE(spec::IsTorchScriptWeights(pth_file.path(), pth_file.fd()));
  RIB_ASSERT_OK_AND_ASSIGN(Classifier from_pth,
                           LoadClassifier("resnet18", 1000, dir_->Join("resnet18.pth")));
  RIB_ASSERT_OK_AND_ASSIGN(
      Classifier from_st,
      LoadClassifier("resnet18", 1000, dir_->Join("resnet18.safetensors")));
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({2, 3, 64, 64});
  torch::NoGradGuard no_grad;
  from_pth->eval();
  from_st->eval();
  EXPECT_TRUE(torch::equal(from_pth->forward(x), from_st->forward(x)));
  // The wrong architecture is the usual strict mismatch, naming the file.
  EXPECT_THAT(LoadClassifier("resnet50", 1000, dir_->Join("resnet18.pth")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("resnet18.pth"), HasSubstr("shape"))));
}

TEST_F(PthArchiveTest, OsSystemPayloadIsRefusedAndNeverRuns) {
  // The payload is live: python's own pickle.loads ran it on a second marker.
  EXPECT_TRUE(std::filesystem::exists(dir_->Join("python_runs_payload")));
  EXPECT_THAT(Read("hostile/os_system.pth"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("os_system.pth"), HasSubstr("'os.system'"))));
  EXPECT_THAT(
      LoadClassifier("resnet18", 1000, dir_->Join("hostile/os_system.pth")).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'os.system'")));
  EXPECT_FALSE(std::filesystem::exists(dir_->Join("rib_ran_payload")));
}

TEST_F(PthArchiveTest, AWholeModuleIsAnUnknownGlobal) {
  EXPECT_THAT(
      Read("hostile/whole_module.pth"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("global 'torch.nn.modules.linear.Linear' is not allowed")));
}

TEST_F(PthArchiveTest, TruncatedZipIsNotReadable) {
  EXPECT_THAT(Read("hostile/truncated.pth"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("truncated.pth"), HasSubstr("not a readable"))));
}

TEST_F(PthArchiveTest, MissingStorageRecordIsNamed) {
  EXPECT_THAT(
      Read("hostile/missing_storage.pth"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("tensor 'w'"), HasSubstr("storage '7' has no record"))));
}

TEST_F(PthArchiveTest, ViewPastItsStorageIsRefused) {
  // sizes (2, 3), strides (3, 1) need 6 elements of a 4-element storage.
  EXPECT_THAT(Read("hostile/past_storage.pth"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tensor 'w'"), HasSubstr("reaches past the end"),
                             HasSubstr("(4 elements)"))));
}

TEST_F(PthArchiveTest, StorageRecordShorterThanDeclaredIsDataLoss) {
  EXPECT_THAT(Read("hostile/short_storage.pth"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("storage '0' has 16 bytes, 400 declared"))));
}

}  // namespace
}  // namespace rib::engine
