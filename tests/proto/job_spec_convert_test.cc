// rib.v1.JobSpec ⇄ JobSpec: the one converter both the coordinator and the agent use.
#include "proto/convert/job_spec_convert.h"

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::convert {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;

using ::testing::ElementsAre;

TEST(JobSpecConvertTest, RoundTripKeepsEveryField) {
  JobSpec spec;
  spec.model.name = "tiny";
  spec.model.arch = "fmnist_vit_tiny";
  spec.model.weights = "models/tiny.safetensors";
  spec.model.weights_digest = "abc";
  spec.model.num_classes = 10;
  spec.model.preprocessing.image_size = 28;
  spec.model.preprocessing.crop_pct = 1.0;
  spec.model.preprocessing.mean = {0.25};
  spec.model.preprocessing.std = {0.5};
  spec.method.name = "lora8";
  spec.method.kind = "lora";
  spec.method.params = {{"rank", "8"}};
  spec.method.members = {"ft"};
  spec.finetune_dataset = "fmnist-v2";
  spec.eval_datasets = {"fmnist-val", "fmnist-v2"};
  spec.training.lr = 0.01;
  spec.training.batch_size = 32;
  spec.training.epochs = 2;
  spec.training.warmup_steps = 0;
  spec.training.precision = "fp32";
  spec.training.seed = 42;
  spec.training.max_steps = 20;
  spec.training.eval_batch_size = 128;
  spec.split = "reference";
  spec.test_fraction = 0.3;
  spec.devices = 2;
  spec.objectnet_mode = "reference";
  spec.dependency_hashes = {{"ft", "deadbeef"}};

  RIB_ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromProto(JobSpecToProto(spec)));
  EXPECT_EQ(back.model.name, "tiny");
  EXPECT_EQ(back.model.weights, "models/tiny.safetensors");
  EXPECT_EQ(back.model.num_classes, 10);
  EXPECT_EQ(back.model.preprocessing.image_size, 28);
  EXPECT_THAT(back.model.preprocessing.mean, ElementsAre(0.25));
  EXPECT_EQ(back.method.name, "lora8");
  EXPECT_EQ(back.method.params.at("rank"), "8");
  EXPECT_THAT(back.method.members, ElementsAre("ft"));
  EXPECT_THAT(back.eval_datasets, ElementsAre("fmnist-val", "fmnist-v2"));
  EXPECT_DOUBLE_EQ(back.training.lr, 0.01);
  EXPECT_EQ(back.training.batch_size, 32);
  EXPECT_EQ(back.training.warmup_steps, 0);
  EXPECT_EQ(back.training.seed, 42);
  EXPECT_EQ(back.training.max_steps, 20);
  EXPECT_EQ(back.split, "reference");
  EXPECT_DOUBLE_EQ(back.test_fraction, 0.3);
  EXPECT_EQ(back.devices, 2);
  EXPECT_EQ(back.objectnet_mode, "reference");
  EXPECT_EQ(back.dependency_hashes.at("ft"), "deadbeef");
}

TEST(JobSpecConvertTest, ZeroValuesKeepDefaultsAndMissingKindIsAnError) {
  v1::JobSpec proto;
  proto.mutable_model()->set_arch("resnet50");
  proto.mutable_method()->set_kind("pre");
  RIB_ASSERT_OK_AND_ASSIGN(JobSpec spec, JobSpecFromProto(proto));
  EXPECT_EQ(spec.method.name, "pre");
  EXPECT_EQ(spec.training.batch_size, 64);
  EXPECT_EQ(spec.training.precision, "auto");
  EXPECT_EQ(spec.devices, 1);
  EXPECT_EQ(spec.model.preprocessing.image_size, 224);
  EXPECT_EQ(spec.objectnet_mode, "standard");  // unset on the wire: the default

  proto.mutable_method()->clear_kind();
  EXPECT_THAT(JobSpecFromProto(proto).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib::convert
