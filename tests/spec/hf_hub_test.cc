// Weights by name from a hub cache (spec/hf_hub.h): references, resolution through
// refs/ to a snapshot, the errors that name the path searched, and the precedence
// sweep file > config.json > published weights table, each level on its own.
#include "spec/hf_hub.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "tests/testing/hub_cache.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::spec {
namespace {

using ::rib::testing::HubSnapshotFiles;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::rib::testing::WriteHubSnapshot;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kCommitA[] = "0123456789abcdef0123456789abcdef01234567";
constexpr char kCommitB[] = "89abcdef0123456789abcdef0123456789abcdef";
constexpr char kOpenai[] = "vit_base_patch16_clip_224.openai_ft_in1k";

// config.json as timm's push_to_hf_hub writes it for the OpenAI CLIP checkpoint, with
// `crop` in place of its crop_pct (0.9) so each test can tell the levels apart.
std::string OpenaiConfig(const std::string& crop) {
  return R"({"architecture": "vit_base_patch16_clip_224", "num_classes": 1000,
    "num_features": 768, "global_pool": "token",
    "pretrained_cfg": {"tag": "openai_ft_in1k", "custom_load": false,
      "input_size": [3, 224, 224], "fixed_input_size": true, "interpolation": "bicubic",
      "crop_pct": )" +
         crop + R"(, "crop_mode": "center",
      "mean": [0.48145466, 0.4578275, 0.40821073],
      "std": [0.26862954, 0.26130258, 0.27577711],
      "num_classes": 1000, "pool_size": null, "first_conv": "patch_embed.proj",
      "classifier": "head"}})";
}

std::string HubSweep(const std::string& model_extra, const std::string& weights =
                                                         std::string("hf-hub:timm/") +
                                                         kOpenai) {
  return "name: hub\nsuite: imagenet-rib\nmodels:\n  - {name: clip, weights: " + weights +
         model_extra + "}\nmethods: [ft]\nfinetune_datasets: [imagenet-r]\n";
}

absl::StatusOr<SweepSpec> ParseAndResolve(const std::string& cache, const std::string& yaml) {
  absl::StatusOr<SweepSpec> sweep = ParseSweepYaml(yaml, "hub.yaml");
  if (!sweep.ok()) return sweep.status();
  absl::StatusOr<std::vector<ResolvedHubModel>> resolved = ResolveHubModels(cache, &*sweep);
  if (!resolved.ok()) return resolved.status();
  return sweep;
}

TEST(HubReference, ParsesOrgNameAndRevision) {
  RIB_ASSERT_OK_AND_ASSIGN(HubReference ref,
                           ParseHubReference("hf-hub:timm/resnet50.tv_in1k"));
  EXPECT_EQ(ref.org, "timm");
  EXPECT_EQ(ref.name, "resnet50.tv_in1k");
  EXPECT_EQ(ref.revision, "main");
  RIB_ASSERT_OK_AND_ASSIGN(ref, ParseHubReference(std::string("hf-hub:timm/x@") + kCommitA));
  EXPECT_EQ(ref.revision, kCommitA);
}

// huggingface_hub's own rule (constants.py: HF_HUB_CACHE = $HF_HOME/hub, HF_HOME
// defaulting to ~/.cache/huggingface), shared by rib-coordinator and rib-run.
TEST(DefaultHubCacheDir, HfHomeThenHomeThenNone) {
  EXPECT_EQ(DefaultHubCacheDir("/data/hf", "/home/alice"), "/data/hf/hub");
  EXPECT_EQ(DefaultHubCacheDir("", "/home/alice"), "/home/alice/.cache/huggingface/hub");
  EXPECT_EQ(DefaultHubCacheDir(nullptr, "/home/alice"), "/home/alice/.cache/huggingface/hub");
  EXPECT_EQ(DefaultHubCacheDir(nullptr, ""), "");
  EXPECT_EQ(DefaultHubCacheDir(nullptr, nullptr), "");
}

TEST(HubReference, BadReferencesNameTheProblem) {
  EXPECT_THAT(ParseHubReference("hf-hub:vit_base"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no organisation")));
  EXPECT_THAT(ParseHubReference("hf-hub:timm/"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model name: empty")));
  EXPECT_THAT(ParseHubReference("hf-hub:timm/../etc"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside [A-Za-z0-9._-]")));
  EXPECT_THAT(ParseHubReference("hf-hub:timm/x@"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("revision: empty")));
  // The sweep parser reports it at the line of the weights.
  EXPECT_THAT(ParseSweepYaml(HubSweep("", "hf-hub:nope"), "hub.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("hub.yaml:4: models[0].weights: 'hf-hub:nope' names no "
                                 "organisation")));
}

TEST(ResolveHubSnapshot, FollowsRefsToTheSnapshot) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitA, "old", OpenaiConfig("0.9")},
                   {"v1"});
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitB, "new", std::nullopt}, {"main"});
  RIB_ASSERT_OK_AND_ASSIGN(HubReference ref,
                           ParseHubReference(std::string("hf-hub:timm/") + kOpenai));
  RIB_ASSERT_OK_AND_ASSIGN(HubSnapshot main, ResolveHubSnapshot(cache.path(), ref));
  EXPECT_EQ(main.commit, kCommitB);
  EXPECT_EQ(main.weights_path, std::string("models--timm--") + kOpenai + "/snapshots/" +
                                   kCommitB + "/model.safetensors");
  EXPECT_FALSE(main.has_config);
  ref.revision = "v1";  // a ref name
  RIB_ASSERT_OK_AND_ASSIGN(HubSnapshot v1, ResolveHubSnapshot(cache.path(), ref));
  EXPECT_EQ(v1.commit, kCommitA);
  EXPECT_TRUE(v1.has_config);
  EXPECT_THAT(v1.config.architecture, ::testing::Optional(std::string("vit_base_patch16_clip_224")));
  ref.revision = kCommitA;  // a commit, refs/ not read
  RIB_ASSERT_OK_AND_ASSIGN(HubSnapshot by_commit, ResolveHubSnapshot(cache.path(), ref));
  EXPECT_EQ(by_commit.commit, kCommitA);
}

TEST(ResolveHubSnapshot, MissingModelOrRevisionNamesThePathSearched) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitA, "w", std::nullopt});
  HubReference ref{"timm", "vit_no_such_model", "main"};
  EXPECT_THAT(ResolveHubSnapshot(cache.path(), ref),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("hf-hub:timm/vit_no_such_model: model not found"),
                             HasSubstr(cache.path() + "/models--timm--vit_no_such_model"),
                             HasSubstr("rib never downloads"))));
  ref = {"timm", kOpenai, "v9"};
  EXPECT_THAT(ResolveHubSnapshot(cache.path(), ref),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("revision 'v9' not found"),
                             HasSubstr(std::string("models--timm--") + kOpenai + "/refs/v9"))));
  ref.revision = kCommitB;  // a commit the cache does not have
  EXPECT_THAT(ResolveHubSnapshot(cache.path(), ref),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model.safetensors of snapshot"),
                             HasSubstr(std::string("snapshots/") + kCommitB))));
}

TEST(ResolveHubSnapshot, BadRefOrConfigIsAnErrorNamingTheFile) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", "a", {kCommitA, "w", std::string("{\"num_classes\": 1.5}")});
  std::ofstream(cache.Join("models--timm--a/refs/broken")) << "not a commit";
  HubReference ref{"timm", "a", "broken"};
  EXPECT_THAT(ResolveHubSnapshot(cache.path(), ref),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("refs/broken does not hold a 40-hex commit hash")));
  ref.revision = "main";
  EXPECT_THAT(ResolveHubSnapshot(cache.path(), ref),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("config.json: num_classes: expected an integer"))));
  EXPECT_THAT(ParseHubConfig(R"({"pretrained_cfg": {"input_size": [3, 224, 256]}})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c: pretrained_cfg.input_size: 224x256 is not square")));
  EXPECT_THAT(ParseHubConfig(R"({"pretrained_cfg": {"crop_mode": "squash"}})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pretrained_cfg.crop_mode: only \"center\"")));
  EXPECT_THAT(ParseHubConfig(R"({"pretrained_cfg": {"interpolation": "lanczos"}})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("got \"lanczos\"")));
}

TEST(HubPrecedence, TableWhenConfigHasNoPretrainedCfg) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", kOpenai,
                   {kCommitA, "w", std::string(R"({"architecture": "vit_base_patch16_clip_224"})")});
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, ParseAndResolve(cache.path(), HubSweep("")));
  const ModelSpec& m = sweep.models[0];
  // config.json's bare arch takes the repository's tag, which picks the table's row.
  EXPECT_EQ(m.arch, kOpenai);
  EXPECT_DOUBLE_EQ(m.preprocessing.crop_pct, FindPublishedWeights(kOpenai)->preprocessing.crop_pct);
  EXPECT_DOUBLE_EQ(m.preprocessing.crop_pct, 0.9);
  EXPECT_EQ(m.num_classes, 1000);  // the suite's
  EXPECT_EQ(m.weights, std::string("hf-hub/models--timm--") + kOpenai + "/snapshots/" +
                           kCommitA + "/model.safetensors");
  EXPECT_TRUE(sweep.hub_models.empty());
}

TEST(HubPrecedence, ConfigJsonWinsOverTheTable) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitA, "w", OpenaiConfig("0.8")});
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, ParseAndResolve(cache.path(), HubSweep("")));
  EXPECT_DOUBLE_EQ(sweep.models[0].preprocessing.crop_pct, 0.8);
  EXPECT_EQ(sweep.models[0].preprocessing.interpolation, "bicubic");
  EXPECT_THAT(sweep.models[0].preprocessing.mean,
              ElementsAre(0.48145466, 0.4578275, 0.40821073));
}

TEST(HubPrecedence, SweepFileWinsOverConfigJson) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitA, "w", OpenaiConfig("0.8")});
  RIB_ASSERT_OK_AND_ASSIGN(
      SweepSpec sweep,
      ParseAndResolve(cache.path(),
                      HubSweep(", num_classes: 200, preprocessing: {crop_pct: 0.7}")));
  const ModelSpec& m = sweep.models[0];
  EXPECT_DOUBLE_EQ(m.preprocessing.crop_pct, 0.7);        // the sweep's
  EXPECT_EQ(m.preprocessing.interpolation, "bicubic");    // config.json's, unset above
  EXPECT_EQ(m.num_classes, 200);
  // And an arch in the file replaces config.json's (and its tag).
  RIB_ASSERT_OK_AND_ASSIGN(
      sweep, ParseAndResolve(cache.path(), HubSweep(", arch: vit_base_patch16_clip_224")));
  EXPECT_EQ(sweep.models[0].arch, "vit_base_patch16_clip_224");
  EXPECT_DOUBLE_EQ(sweep.models[0].preprocessing.crop_pct, 0.8);  // config.json's still
}

TEST(HubPrecedence, ConfigNumClassesWinsOverTheSuite) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", "vit_base_patch16_224.augreg_in21k",
                   {kCommitA, "w",
                    std::string(R"({"architecture": "vit_base_patch16_224", "num_classes": 21843})")});
  RIB_ASSERT_OK_AND_ASSIGN(
      SweepSpec sweep,
      ParseAndResolve(cache.path(), HubSweep("", "hf-hub:timm/vit_base_patch16_224.augreg_in21k")));
  EXPECT_EQ(sweep.models[0].num_classes, 21843);
  EXPECT_EQ(sweep.models[0].arch, "vit_base_patch16_224.augreg_in21k");
}

TEST(HubPrecedence, NoArchAnywhereIsAnError) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitA, "w", std::nullopt});
  EXPECT_THAT(ParseAndResolve(cache.path(), HubSweep("")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model 'clip'"), HasSubstr("has no config.json"),
                             HasSubstr("give the model an arch"))));
  // A plain weights file still needs its arch in the file.
  EXPECT_THAT(ParseSweepYaml(HubSweep("", "models/w.safetensors"), "hub.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("models[0].arch: missing")));
}

TEST(HubModels, ExpandRefusesUnresolvedAndHashesFollowTheSnapshot) {
  ScratchDir cache;
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitA, "w", OpenaiConfig("0.9")},
                   {"v1"});
  WriteHubSnapshot(cache.path(), "timm", kOpenai, {kCommitB, "w", OpenaiConfig("0.85")},
                   {"main"});
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec unresolved, ParseSweepYaml(HubSweep(""), "hub.yaml"));
  unresolved.models[0].weights_digest = std::string(64, '0');
  EXPECT_THAT(ExpandSweep(unresolved),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not resolved")));

  auto pre_hash = [&](const std::string& weights) -> std::string {
    absl::StatusOr<SweepSpec> sweep = ParseAndResolve(cache.path(), HubSweep("", weights));
    EXPECT_TRUE(sweep.ok()) << sweep.status();
    if (!sweep.ok()) return "";
    sweep->models[0].weights_digest = std::string(64, '0');  // same bytes in both
    absl::StatusOr<std::vector<PlannedJob>> jobs = ExpandSweep(*sweep);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    return jobs.ok() ? jobs->front().hash : "";
  };
  const std::string base = std::string("hf-hub:timm/") + kOpenai;
  // main moved to a snapshot whose config.json says crop 0.85: a new job.
  EXPECT_NE(pre_hash(base), pre_hash(base + "@v1"));
  EXPECT_EQ(pre_hash(base + "@v1"), pre_hash(base + "@" + kCommitA));
}

}  // namespace
}  // namespace rib::spec
