// The stored form of a job spec: a round trip through text keeps every field, and the
// reader takes what PostgreSQL's jsonb hands back (reordered keys, spaces, numbers
// spelled another way).
#include "spec/job_json.h"

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::spec {
namespace {

using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

JobSpec FullSpec() {
  JobSpec s;
  s.model =
      ModelSpec{"vit",
                "fmnist_vit",
                "models/v.safetensors",
                "abc",
                Preprocessing{32, 1.0, {0.1, 0.2, 0.3}, {0.4, 0.5, 0.6}, "bilinear"},
                10};
  s.method = MethodSpec{"mix", "soup", {{"k", "v\"q"}}, {"ft", "lora"}};
  s.finetune_dataset = "fmnist-r";
  s.eval_datasets = {"fmnist-val", "fmnist-c"};
  s.training.optimizer = "adamw";
  s.training.lr = 0.1 + 0.2;  // not exactly representable as short decimal
  s.training.momentum = 0;
  s.training.weight_decay = 1e-4;
  s.training.batch_size = 32;
  s.training.epochs = 3;
  s.training.warmup_steps = 0;
  s.training.schedule = "constant";
  s.training.precision = "bf16";
  s.training.seed = -5;
  s.training.skip_corrupt = true;
  s.training.max_steps = 7;
  s.training.eval_batch_size = 99;
  s.split = "reference";
  s.test_fraction = 0.3;
  s.devices = 4;
  s.suite = "fmnist-rib";
  s.objectnet_mode = "reference";
  s.dependency_hashes = {{"ft", "h1"}, {"lora", "h2"}};
  return s;
}

TEST(JobSpecJson, RoundTripKeepsEveryField) {
  const JobSpec s = FullSpec();
  RIB_ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(JobSpecToJson(s)));
  EXPECT_EQ(JobSpecToJson(back), JobSpecToJson(s));
  EXPECT_EQ(back.model.preprocessing.interpolation, "bilinear");
  EXPECT_THAT(back.model.preprocessing.std, ElementsAre(0.4, 0.5, 0.6));
  EXPECT_THAT(back.method.params, ElementsAre(Pair("k", "v\"q")));
  EXPECT_THAT(back.method.members, ElementsAre("ft", "lora"));
  EXPECT_EQ(back.training.lr, 0.1 + 0.2);
  EXPECT_EQ(back.training.seed, -5);
  EXPECT_TRUE(back.training.skip_corrupt);
  EXPECT_EQ(back.devices, 4);
  EXPECT_EQ(back.objectnet_mode, "reference");
  EXPECT_THAT(back.dependency_hashes, ElementsAre(Pair("ft", "h1"), Pair("lora", "h2")));
  EXPECT_EQ(JobHash(back), JobHash(s));
}

TEST(JobSpecJson, ReadsJsonbTextAndTheOldWritersNumbers) {
  // As the previous writer spelled doubles (%.17g) and as jsonb prints them back.
  RIB_ASSERT_OK_AND_ASSIGN(
      JobSpec s,
      JobSpecFromJson("{\"devices\": 2, \"test_fraction\": 0.20000000000000001, "
                      "\"method\": {\"kind\": \"ft\", \"name\": \"ft\"}, "
                      "\"model\": {\"arch\": \"resnet50\"}}"));
  EXPECT_EQ(s.devices, 2);
  EXPECT_EQ(s.test_fraction, 0.2);
  EXPECT_EQ(s.model.arch, "resnet50");
  // Missing fields keep the struct's defaults.
  EXPECT_EQ(s.training.batch_size, 64);
  EXPECT_EQ(s.model.preprocessing.image_size, 224);
}

TEST(JobSpecJson, MalformedTextNamesTheField) {
  EXPECT_THAT(
      JobSpecFromJson("{\"training\": {\"batch_size\": \"64\"}}"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("training.batch_size: expected an integer, got a string")));
  EXPECT_THAT(JobSpecFromJson("{\"devices\": 1.5}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("devices")));
  EXPECT_THAT(JobSpecFromJson("[1]"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(JobSpecFromJson("{\"model\": "),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed JSON")));
}

}  // namespace
}  // namespace rib::spec
