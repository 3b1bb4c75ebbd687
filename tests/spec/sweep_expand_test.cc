// ExpandSweep (job counts, edges, order) and the canonical job hash.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "tests/testing/status_matchers.h"

namespace rib::spec {
namespace {

using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Parses `yaml` and gives model i the digest "digest-<name>".
absl::StatusOr<SweepSpec> Parse(const std::string& yaml) {
  RIB_ASSIGN_OR_RETURN(SweepSpec s, ParseSweepYaml(yaml, "test.yaml"));
  for (ModelSpec& m : s.models) m.weights_digest = "digest-" + m.weights;
  return s;
}

std::map<std::string, const PlannedJob*> ByKey(const std::vector<PlannedJob>& jobs) {
  std::map<std::string, const PlannedJob*> out;
  for (const PlannedJob& j : jobs) out[j.key] = &j;
  return out;
}

constexpr char kThreeModels[] =
    "name: grid\n"
    "models:\n"
    "  - {name: a, arch: fmnist_vit, weights: a.safetensors}\n"
    "  - {name: b, arch: fmnist_vit, weights: b.safetensors}\n"
    "  - {name: c, arch: fmnist_vit, weights: c.safetensors}\n"
    "methods: [ft, lpft, wise-ft, lora]\n";

// `otdd` in methods: one distance job per (model, fine-tune dataset), evaluating
// nothing (methods.h), counted like any other method.
TEST(ExpandSweep, OtddAddsADistanceJobPerModelAndDatasetThatEvaluatesNothing) {
  RIB_ASSERT_OK_AND_ASSIGN(
      SweepSpec sweep,
      Parse("name: o\nmodels:\n  - {name: a, arch: fmnist_vit, weights: a.safetensors}\n"
            "methods: [ft, {name: otdd, kind: otdd, params: {max_samples: 500}}]\n"));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  RIB_ASSERT_OK_AND_ASSIGN(int64_t counted, CountSweepJobs(sweep));
  EXPECT_EQ(counted, static_cast<int64_t>(jobs.size()));
  const auto by_key = ByKey(jobs);
  const PlannedJob& o = *by_key.at("a/otdd/fmnist-v2");
  EXPECT_TRUE(o.spec.eval_datasets.empty());
  EXPECT_EQ(o.spec.method.params.at("max_samples"), "500");
  EXPECT_EQ(o.spec.method.params.at("epsilon"), "0.1");
  EXPECT_FALSE(by_key.at("a/ft/fmnist-v2")->spec.eval_datasets.empty());
  int otdd_jobs = 0;
  for (const PlannedJob& j : jobs) otdd_jobs += j.spec.method.kind == "otdd";
  EXPECT_EQ(otdd_jobs, 8);  // the suite's 8 fine-tune datasets
}

TEST(ExpandSweep, ThreeModelsFourMethodsEightDatasetsGive123Jobs) {
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, Parse(kThreeModels));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  // 3 pre + 3 × 4 × 8 cells + 3 × 8 lp jobs that lpft needs.
  ASSERT_EQ(jobs.size(), 123u);
  std::map<std::string, int> per_kind;
  for (const PlannedJob& j : jobs) per_kind[j.spec.method.kind]++;
  EXPECT_THAT(per_kind,
              ElementsAre(Pair("ft", 24), Pair("lora", 24), Pair("lp", 24),
                          Pair("lpft", 24), Pair("pre", 3), Pair("wise-ft", 24)));

  std::set<std::string> seen_keys;
  std::set<std::string> hashes;
  const auto by_key = ByKey(jobs);
  for (const PlannedJob& j : jobs) {
    // Dependency order: every dependency is planned before the job.
    for (const std::string& dep : j.depends_on) {
      EXPECT_EQ(seen_keys.count(dep), 1u) << j.key << " before " << dep;
    }
    EXPECT_TRUE(seen_keys.insert(j.key).second) << "duplicate key " << j.key;
    hashes.insert(j.hash);
    EXPECT_EQ(j.hash, JobHash(j.spec));
    EXPECT_EQ(j.spec.devices, 1);
    EXPECT_EQ(j.spec.eval_datasets.size(), 9u);
    const std::string& kind = j.spec.method.kind;
    const std::string& model = j.spec.model.name;
    const std::string& ds = j.spec.finetune_dataset;
    if (kind == "pre") {
      EXPECT_EQ(j.key, model + "/pre");
      EXPECT_EQ(ds, "");
      EXPECT_TRUE(j.depends_on.empty());
    } else if (kind == "lpft") {
      const std::string lp = model + "/lp/" + ds;
      EXPECT_THAT(j.depends_on, ElementsAre(lp));
      EXPECT_THAT(j.spec.dependency_hashes, ElementsAre(Pair("lp", by_key.at(lp)->hash)));
    } else if (kind == "wise-ft") {
      const std::string ft = model + "/ft/" + ds;
      EXPECT_EQ(j.key, model + "/wise-ft/" + ds);
      EXPECT_THAT(j.depends_on, ElementsAre(ft));
      EXPECT_THAT(j.spec.dependency_hashes, ElementsAre(Pair("ft", by_key.at(ft)->hash)));
    } else {
      EXPECT_EQ(j.key, model + "/" + kind + "/" + ds);
      EXPECT_TRUE(j.depends_on.empty()) << j.key;
      EXPECT_TRUE(j.spec.dependency_hashes.empty()) << j.key;
    }
  }
  // Every job computes something different (models differ by weights digest).
  EXPECT_EQ(hashes.size(), 123u);
  // Order: model by model, pre first, then methods after their dependencies.
  EXPECT_EQ(jobs[0].key, "a/pre");
  EXPECT_EQ(jobs[1].key, "a/ft/fmnist-v2");
  EXPECT_EQ(jobs[9].key, "a/lp/fmnist-v2");
  EXPECT_EQ(jobs[17].key, "a/lpft/fmnist-v2");
  EXPECT_EQ(jobs[25].key, "a/wise-ft/fmnist-v2");
  EXPECT_EQ(jobs[33].key, "a/lora/fmnist-v2");
  EXPECT_EQ(jobs[41].key, "b/pre");
  EXPECT_EQ(jobs[122].key, "c/lora/fmnist-c");
}

TEST(CountSweepJobs, IsTheNumberOfJobsExpandSweepMakes) {
  // The implicit lp jobs of lpft count too (123, as above).
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, Parse(kThreeModels));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  RIB_ASSERT_OK_AND_ASSIGN(int64_t count, CountSweepJobs(sweep));
  EXPECT_EQ(count, 123);
  EXPECT_EQ(count, static_cast<int64_t>(jobs.size()));
  // No weights digests needed: the count comes before any file is read.
  for (ModelSpec& m : sweep.models) m.weights_digest.clear();
  RIB_ASSERT_OK_AND_ASSIGN(count, CountSweepJobs(sweep));
  EXPECT_EQ(count, static_cast<int64_t>(jobs.size()));
}

TEST(ExpandSweep, SoupDependsOnEachMemberOfItsRow) {
  RIB_ASSERT_OK_AND_ASSIGN(
      SweepSpec sweep, Parse("name: s\n"
                             "models: [{name: m, arch: fmnist_vit, weights: w}]\n"
                             "methods:\n"
                             "  - {name: greedy, kind: soup, members: [ft, lpft, r4]}\n"
                             "  - ft\n"
                             "  - lpft\n"
                             "  - {name: r4, kind: lora, params: {rank: 4}}\n"
                             "finetune_datasets: [fmnist-a, fmnist-r]\n"));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  // pre + (ft, lp, lpft, r4, greedy) × 2.
  ASSERT_EQ(jobs.size(), 11u);
  std::vector<std::string> keys;
  for (const PlannedJob& j : jobs) keys.push_back(j.key);
  EXPECT_THAT(keys, ElementsAre("m/pre", "m/ft/fmnist-a", "m/ft/fmnist-r",
                                "m/lp/fmnist-a", "m/lp/fmnist-r", "m/lpft/fmnist-a",
                                "m/lpft/fmnist-r", "m/r4/fmnist-a", "m/r4/fmnist-r",
                                "m/greedy/fmnist-a", "m/greedy/fmnist-r"));
  const auto by_key = ByKey(jobs);
  const PlannedJob& soup = *by_key.at("m/greedy/fmnist-r");
  EXPECT_EQ(soup.spec.method.kind, "soup");
  EXPECT_EQ(soup.spec.finetune_dataset, "fmnist-r");
  EXPECT_THAT(soup.depends_on,
              ElementsAre("m/ft/fmnist-r", "m/lpft/fmnist-r", "m/r4/fmnist-r"));
  EXPECT_THAT(soup.spec.dependency_hashes,
              ElementsAre(Pair("ft", by_key.at("m/ft/fmnist-r")->hash),
                          Pair("lpft", by_key.at("m/lpft/fmnist-r")->hash),
                          Pair("r4", by_key.at("m/r4/fmnist-r")->hash)));
  EXPECT_THAT(by_key.at("m/r4/fmnist-a")->spec.method.params,
              ElementsAre(Pair("alpha", "1"), Pair("rank", "4"),
                          Pair("train_extra", "reference")));
}

TEST(ExpandSweep, UsesAListedDependencyAndMergesAListedPre) {
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep,
                           Parse("name: s\n"
                                 "models: [{name: m, arch: fmnist_vit, weights: w}]\n"
                                 "methods: [pre, lpft, {name: probe, kind: lp}]\n"
                                 "finetune_datasets: [fmnist-c]\n"));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].key, "m/pre");
  EXPECT_EQ(jobs[1].key, "m/probe/fmnist-c");
  EXPECT_EQ(jobs[2].key, "m/lpft/fmnist-c");
  EXPECT_THAT(jobs[2].depends_on, ElementsAre("m/probe/fmnist-c"));
  EXPECT_THAT(jobs[2].spec.dependency_hashes, ElementsAre(Pair("lp", jobs[1].hash)));
}

TEST(ExpandSweep, NeedsWeightDigests) {
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, ParseSweepYaml(kThreeModels));
  EXPECT_THAT(ExpandSweep(sweep),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("model 'a'")));
}

TEST(ExpandSweep, RejectsAHandBuiltSoupWithAMissingMember) {
  SweepSpec sweep;
  sweep.name = "x";
  sweep.models.push_back(ModelSpec{"m", "fmnist_vit", "w", "d", {}, 10});
  sweep.methods.push_back(MethodSpec{"soup", "soup", {}, {"ft"}});
  EXPECT_THAT(ExpandSweep(sweep),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("member 'ft'")));
}

TEST(ExpandSweep, RejectsLoraForAModelWithoutAttention) {
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep,
                           Parse("name: x\n"
                                 "models: [{name: v, arch: fmnist_vit, weights: a},\n"
                                 "         {name: r, arch: fmnist_resnet, weights: b}]\n"
                                 "methods: [ft, {name: adapters, kind: lora}]\n"));
  EXPECT_THAT(
      ExpandSweep(sweep),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("method 'adapters' (lora) needs attention blocks; model 'r' "
                         "(arch fmnist_resnet) has none")));
  sweep.models.pop_back();  // the ViT alone is fine
  EXPECT_TRUE(ExpandSweep(sweep).ok());
}

// ---- Hash stability
// --------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> KeysAndHashes(const std::string& yaml) {
  absl::StatusOr<SweepSpec> sweep = Parse(yaml);
  EXPECT_TRUE(sweep.ok()) << sweep.status();
  if (!sweep.ok()) return {};
  absl::StatusOr<std::vector<PlannedJob>> jobs = ExpandSweep(*sweep);
  EXPECT_TRUE(jobs.ok()) << jobs.status();
  std::vector<std::pair<std::string, std::string>> out;
  if (jobs.ok()) {
    for (const PlannedJob& j : *jobs) out.emplace_back(j.key, j.hash);
  }
  return out;
}

TEST(JobHash, KeyOrderAndSpelledOutDefaultsDoNotChangeIt) {
  const std::string terse =
      "name: h\n"
      "models: [{name: m, arch: fmnist_vit, weights: w}]\n"
      "methods: [ft, lora, wise-ft, lpft, {kind: soup, members: [ft, lora]}]\n";
  const std::string spelled_out =
      "training:\n"
      "  weight_decay: 0.0\n  seed: 0\n  momentum: 0.90\n  lr: 1e-3\n  epochs: 10\n"
      "  batch_size: 64\n  warmup_steps: 196\n  precision: auto\n  max_steps: 0\n"
      "  skip_corrupt: false\n  optimizer: sgd\n  schedule: cosine\n"
      "  eval_batch_size: 256\n"
      "test_fraction: 0.20\n"
      "split: heldout\n"
      "methods:\n"
      "  - {kind: ft, name: ft}\n"
      "  - {params: {alpha: 1.0, rank: 8}, kind: lora}\n"
      "  - {kind: wise-ft, params: {alpha: 0.5}}\n"
      "  - lpft\n"
      "  - {members: [ft, lora], kind: soup}\n"
      "models:\n"
      "  - weights: w\n"
      "    num_classes: 10\n"
      "    arch: fmnist_vit\n"
      "    name: m\n"
      "    preprocessing: {std: [0.5, 0.5, 0.5], interpolation: bicubic, crop_pct: 1,\n"
      "                    mean: [0.5, 0.5, 0.5], image_size: 32}\n"
      "eval_datasets: [fmnist-c, fmnist-val, fmnist-v2, fmnist-a, fmnist-r,\n"
      "                fmnist-sketch, fmnist-objectnet, fmnist-cartoon, fmnist-drawing]\n"
      "finetune_datasets: [fmnist-v2, fmnist-a, fmnist-r, fmnist-sketch,\n"
      "                    fmnist-objectnet, fmnist-cartoon, fmnist-drawing, fmnist-c]\n"
      "suite: fmnist-rib\n"
      "devices: 1\n"
      "name: h\n";
  const auto a = KeysAndHashes(terse);
  const auto b = KeysAndHashes(spelled_out);
  ASSERT_EQ(a.size(), 1u + 6 * 8);
  EXPECT_EQ(a, b);
}

TEST(JobHash, DisplayNamesDevicesAndPriorityDoNotChangeIt) {
  const auto a = KeysAndHashes(
      "name: h\n"
      "models: [{name: m, arch: fmnist_vit, weights: w}]\n"
      "methods: [ft, {name: w5, kind: wise-ft}, {kind: soup, members: [ft, w5]}]\n");
  const auto b = KeysAndHashes(
      "name: other-sweep\npriority: 7\ndevices: 4\nmax_attempts: 9\n"
      "training: {eval_batch_size: 17}\n"
      "models: [{name: renamed, arch: fmnist_vit, weights: w}]\n"
      "methods: [ft, {name: half, kind: wise-ft}, {name: mix, kind: soup,"
      " members: [half, ft]}]\n");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NE(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second, b[i].second) << a[i].first << " vs " << b[i].first;
  }
}

TEST(JobHash, TrainingConfigReachesNonTrainingJobsOnlyThroughDependencies) {
  const std::string base =
      "name: h\n"
      "models: [{name: m, arch: fmnist_vit, weights: w}]\n"
      "methods: [wise-ft]\n"
      "finetune_datasets: [fmnist-a]\n";
  const auto a = KeysAndHashes(base);
  const auto b = KeysAndHashes(base + "training: {lr: 0.01}\n");
  ASSERT_EQ(a.size(), 3u);              // pre, ft, wise-ft
  EXPECT_EQ(a[0], b[0]);                // pre does not train
  EXPECT_NE(a[1].second, b[1].second);  // ft trains
  EXPECT_NE(a[2].second, b[2].second);  // wise-ft reads ft's weights
}

JobSpec BaseSpec() {
  JobSpec s;
  s.model = ModelSpec{
      "m", "fmnist_vit", "w.safetensors", "abc", DefaultPreprocessing("fmnist_vit"), 10};
  s.method = MethodSpec{"lora", "lora", {{"rank", "8"}, {"alpha", "1"}}, {}};
  s.finetune_dataset = "fmnist-a";
  s.eval_datasets = SuiteEvalDatasets("fmnist-rib");
  s.suite = "fmnist-rib";
  return s;
}

TEST(JobHash, EveryHashedFieldChangesIt) {
  const std::string base = JobHash(BaseSpec());
  const std::vector<std::pair<std::string, std::function<void(JobSpec&)>>> changes = {
      {"arch", [](JobSpec& s) { s.model.arch = "fmnist_resnet"; }},
      {"weights_digest", [](JobSpec& s) { s.model.weights_digest = "abd"; }},
      {"num_classes", [](JobSpec& s) { s.model.num_classes = 11; }},
      {"image_size", [](JobSpec& s) { s.model.preprocessing.image_size = 28; }},
      {"crop_pct", [](JobSpec& s) { s.model.preprocessing.crop_pct = 0.9; }},
      {"mean", [](JobSpec& s) { s.model.preprocessing.mean[1] = 0.4; }},
      {"std", [](JobSpec& s) { s.model.preprocessing.std = {0.5}; }},
      {"interpolation",
       [](JobSpec& s) { s.model.preprocessing.interpolation = "bilinear"; }},
      {"kind",
       [](JobSpec& s) {
         s.method = MethodSpec{"lora", "ft", {}, {}};
       }},
      {"rank", [](JobSpec& s) { s.method.params["rank"] = "4"; }},
      {"alpha", [](JobSpec& s) { s.method.params["alpha"] = "2"; }},
      {"finetune_dataset", [](JobSpec& s) { s.finetune_dataset = "fmnist-r"; }},
      {"eval_datasets", [](JobSpec& s) { s.eval_datasets.pop_back(); }},
      {"split", [](JobSpec& s) { s.split = "reference"; }},
      {"test_fraction", [](JobSpec& s) { s.test_fraction = 0.25; }},
      {"seed", [](JobSpec& s) { s.training.seed = 1; }},
      {"suite", [](JobSpec& s) { s.suite = "imagenet-rib"; }},
      {"lr", [](JobSpec& s) { s.training.lr = 2e-3; }},
      {"momentum", [](JobSpec& s) { s.training.momentum = 0; }},
      {"optimizer", [](JobSpec& s) { s.training.optimizer = "adamw"; }},
      {"weight_decay", [](JobSpec& s) { s.training.weight_decay = 1e-4; }},
      {"batch_size", [](JobSpec& s) { s.training.batch_size = 32; }},
      {"epochs", [](JobSpec& s) { s.training.epochs = 1; }},
      {"warmup_steps", [](JobSpec& s) { s.training.warmup_steps = 0; }},
      {"max_steps", [](JobSpec& s) { s.training.max_steps = 5; }},
      {"precision", [](JobSpec& s) { s.training.precision = "bf16"; }},
      {"skip_corrupt", [](JobSpec& s) { s.training.skip_corrupt = true; }},
      {"dependency", [](JobSpec& s) { s.dependency_hashes["ft"] = "f00"; }},
  };
  std::set<std::string> all = {base};
  for (const auto& [what, change] : changes) {
    JobSpec s = BaseSpec();
    change(s);
    const std::string h = JobHash(s);
    EXPECT_NE(h, base) << what;
    all.insert(h);
  }
  EXPECT_EQ(all.size(), changes.size() + 1);
}

TEST(JobHash, UnhashedFieldsLeaveItAlone) {
  const std::string base = JobHash(BaseSpec());
  const std::vector<std::pair<std::string, std::function<void(JobSpec&)>>> changes = {
      {"model name", [](JobSpec& s) { s.model.name = "other"; }},
      {"weights path", [](JobSpec& s) { s.model.weights = "elsewhere/w.safetensors"; }},
      {"method name", [](JobSpec& s) { s.method.name = "adapters"; }},
      {"devices", [](JobSpec& s) { s.devices = 8; }},
      {"eval_batch_size", [](JobSpec& s) { s.training.eval_batch_size = 1; }},
      {"eval order",
       [](JobSpec& s) { std::reverse(s.eval_datasets.begin(), s.eval_datasets.end()); }},
      {"params spelled differently",
       [](JobSpec& s) {
         s.method.params = {{"rank", "08"}, {"alpha", "1.0"}};
       }},
      {"defaults left out", [](JobSpec& s) { s.method.params.clear(); }},
  };
  for (const auto& [what, change] : changes) {
    JobSpec s = BaseSpec();
    change(s);
    EXPECT_EQ(JobHash(s), base) << what;
  }
  // A job that does not train ignores the training config; reference ignores the
  // test fraction; dependency keys are display names too.
  JobSpec pre = BaseSpec();
  pre.method = MethodSpec{"pre", "pre", {}, {}};
  pre.finetune_dataset = "";
  JobSpec pre2 = pre;
  pre2.training.lr = 0.5;
  pre2.training.epochs = 3;
  EXPECT_EQ(JobHash(pre), JobHash(pre2));
  JobSpec ref = BaseSpec();
  ref.split = "reference";
  JobSpec ref2 = ref;
  ref2.test_fraction = 0.5;
  EXPECT_EQ(JobHash(ref), JobHash(ref2));
  JobSpec soup = BaseSpec();
  soup.method = MethodSpec{"soup", "soup", {}, {"a", "b"}};
  soup.dependency_hashes = {{"a", "h1"}, {"b", "h2"}};
  JobSpec soup2 = soup;
  soup2.method.members = {"x", "y"};
  soup2.dependency_hashes = {{"x", "h2"}, {"y", "h1"}};
  EXPECT_EQ(JobHash(soup), JobHash(soup2));
}

TEST(CanonicalJobJson, IsTheDocumentedFormat) {
  JobSpec s;
  s.model =
      ModelSpec{"m", "fmnist_vit", "w", "abc", DefaultPreprocessing("fmnist_vit"), 10};
  s.method = MethodSpec{"w", "wise-ft", {}, {}};
  s.finetune_dataset = "fmnist-a";
  s.eval_datasets = {"fmnist-v2", "fmnist-a"};
  s.dependency_hashes = {{"ft", "123"}};
  EXPECT_EQ(CanonicalJobJson(s),
            "{\"dependencies\":[\"123\"],"
            "\"eval\":{\"images\":\"not-trained-on\",\"precision\":\"auto\","
            "\"skip_corrupt\":false},"
            "\"eval_datasets\":[\"fmnist-a\",\"fmnist-v2\"],"
            "\"finetune_dataset\":\"fmnist-a\","
            "\"method\":{\"kind\":\"wise-ft\",\"params\":{\"alpha\":\"0.5\"}},"
            "\"model\":{\"arch\":\"fmnist_vit\",\"num_classes\":10,\"preprocessing\":"
            "{\"crop_pct\":1,\"image_size\":32,\"interpolation\":\"bicubic\","
            "\"mean\":[0.5,0.5,0.5],\"std\":[0.5,0.5,0.5]},\"weights_digest\":\"abc\"},"
            "\"schema\":1,\"seed\":0,\"split\":\"heldout\",\"suite\":\"fmnist-rib\","
            "\"test_fraction\":0.2}");
  // The hash is the SHA-256 of exactly that text.
  EXPECT_EQ(JobHash(s).size(), 64u);
}

TEST(CanonicalJobJson, EscapesStrings) {
  JobSpec s = BaseSpec();
  s.model.arch = "a\"b\\c\nd\x01";
  EXPECT_THAT(CanonicalJobJson(s), HasSubstr("\"arch\":\"a\\\"b\\\\c\\nd\\u0001\""));
}

// ---- seeds: [...] (issue 15.9) ----

TEST(ExpandSweep, SeedsRunEveryJobOncePerSeedAsItsTrainingSeed) {
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep,
                           Parse("name: s\n"
                                 "models: [{name: m, arch: fmnist_vit, weights: w}]\n"
                                 "methods: [lpft]\n"
                                 "finetune_datasets: [fmnist-v2]\n"
                                 "seeds: [0, 7]\n"));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  // Per seed: pre, lp (lpft's dependency), lpft.
  ASSERT_EQ(jobs.size(), 6u);
  RIB_ASSERT_OK_AND_ASSIGN(int64_t count, CountSweepJobs(sweep));
  EXPECT_EQ(count, 6);
  auto by = ByKey(jobs);
  ASSERT_EQ(by.count("m/lpft/fmnist-v2@seed=7"), 1u);
  const PlannedJob& lpft7 = *by["m/lpft/fmnist-v2@seed=7"];
  EXPECT_EQ(lpft7.spec.training.seed, 7);
  EXPECT_THAT(lpft7.depends_on, ElementsAre("m/lp/fmnist-v2@seed=7"));
  EXPECT_EQ(lpft7.spec.dependency_hashes.at("lp"), by["m/lp/fmnist-v2@seed=7"]->hash);
  EXPECT_EQ(by["m/pre@seed=0"]->spec.training.seed, 0);
  EXPECT_NE(by["m/pre@seed=0"]->hash, by["m/pre@seed=7"]->hash);  // the split's seed
  // Seed 0 is the sweep without seeds.
  sweep.seeds.clear();
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> plain, ExpandSweep(sweep));
  ASSERT_EQ(plain.size(), 3u);
  for (const PlannedJob& j : plain) EXPECT_EQ(by[j.key + "@seed=0"]->hash, j.hash) << j.key;
}

}  // namespace
}  // namespace rib::spec
