#include <fstream>
#include <sstream>
#include <string>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::spec {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string ReadDemo() {
  std::ifstream in(::rib::testing::SourceDir() +
                   "/tests/common/testdata/demo_sweep.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ParseSweepYaml, DemoFileParsesWithEveryValue) {
  const std::string text = ReadDemo();
  ASSERT_FALSE(text.empty());
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec s, ParseSweepYaml(text, "demo_sweep.yaml"));
  EXPECT_EQ(s.name, "demo");
  EXPECT_EQ(s.suite, "fmnist-rib");
  EXPECT_EQ(s.priority, 0);
  EXPECT_EQ(s.max_attempts, 3);
  EXPECT_EQ(s.devices, 1);
  EXPECT_EQ(s.device_kind, "");  // any kind
  EXPECT_EQ(s.split, "heldout");
  EXPECT_DOUBLE_EQ(s.test_fraction, 0.2);

  ASSERT_EQ(s.models.size(), 2u);
  EXPECT_EQ(s.models[0].name, "vit-plain");
  EXPECT_EQ(s.models[0].arch, "fmnist_vit");
  EXPECT_EQ(s.models[0].weights, "models/fmnist_vit_plain.safetensors");
  EXPECT_EQ(s.models[0].weights_digest, "");
  EXPECT_EQ(s.models[0].num_classes, 10);
  EXPECT_EQ(s.models[0].preprocessing.image_size, 32);
  EXPECT_DOUBLE_EQ(s.models[0].preprocessing.crop_pct, 1.0);
  EXPECT_THAT(s.models[0].preprocessing.mean, ElementsAre(0.5, 0.5, 0.5));
  EXPECT_EQ(s.models[0].preprocessing.interpolation, "bicubic");
  // The second model takes its arch family's defaults.
  EXPECT_EQ(s.models[1].num_classes, 10);
  EXPECT_EQ(s.models[1].preprocessing.image_size, 32);
  EXPECT_DOUBLE_EQ(s.models[1].preprocessing.crop_pct, 1.0);

  ASSERT_EQ(s.methods.size(), 6u);
  EXPECT_EQ(s.methods[0].name, "ft");
  EXPECT_EQ(s.methods[0].kind, "ft");
  EXPECT_TRUE(s.methods[0].params.empty());
  EXPECT_EQ(s.methods[2].kind, "lpft");
  EXPECT_EQ(s.methods[3].name, "lora");
  EXPECT_THAT(s.methods[3].params, ElementsAre(Pair("alpha", "1"), Pair("rank", "8"),
                                              Pair("train_extra", "reference")));
  EXPECT_EQ(s.methods[4].name, "wise");
  EXPECT_EQ(s.methods[4].kind, "wise-ft");
  EXPECT_THAT(s.methods[4].params, ElementsAre(Pair("alpha", "0.5")));
  EXPECT_EQ(s.methods[5].name, "soup");
  EXPECT_THAT(s.methods[5].members, ElementsAre("ft", "lp"));

  EXPECT_THAT(s.finetune_datasets, ElementsAre("fmnist-v2", "fmnist-a"));
  EXPECT_EQ(s.eval_datasets, SuiteEvalDatasets("fmnist-rib"));
  EXPECT_DOUBLE_EQ(s.training.lr, 0.001);
  EXPECT_EQ(s.training.epochs, 10);
  EXPECT_EQ(s.training.batch_size, 64);
  EXPECT_EQ(s.training.warmup_steps, 196);
  EXPECT_DOUBLE_EQ(s.training.momentum, 0.9);
  EXPECT_EQ(s.training.precision, "auto");
  EXPECT_FALSE(s.training.skip_corrupt);
}

TEST(ParseSweepYaml, MinimalFileFillsEveryDefault) {
  RIB_ASSERT_OK_AND_ASSIGN(
      SweepSpec s,
      ParseSweepYaml(
          "name: tiny\n"
          "suite: imagenet-rib\n"
          "models:\n"
          "  - {name: vit, arch: vit_base_patch16_224, weights: vit.safetensors}\n"
          "  - {name: rn, arch: resnet50, weights: rn.safetensors}\n"
          "  - {name: clip, arch: vit_base_patch16_clip_384, weights: c.st}\n"
          "methods: [vp, lwf, ewc, l2sp, wise-ft]\n"));
  EXPECT_EQ(s.priority, 0);
  EXPECT_EQ(s.max_attempts, 3);
  EXPECT_EQ(s.devices, 1);
  EXPECT_EQ(s.split, "heldout");
  EXPECT_EQ(s.models[0].num_classes, 1000);
  EXPECT_EQ(s.models[0].preprocessing.image_size, 224);
  EXPECT_DOUBLE_EQ(s.models[0].preprocessing.crop_pct, 0.9);
  EXPECT_THAT(s.models[0].preprocessing.std, ElementsAre(0.5, 0.5, 0.5));
  EXPECT_DOUBLE_EQ(s.models[1].preprocessing.crop_pct, 0.875);
  EXPECT_THAT(s.models[1].preprocessing.mean, ElementsAre(0.485, 0.456, 0.406));
  EXPECT_THAT(s.models[1].preprocessing.std, ElementsAre(0.229, 0.224, 0.225));
  EXPECT_EQ(s.models[2].preprocessing.image_size, 384);
  EXPECT_DOUBLE_EQ(s.models[2].preprocessing.crop_pct, 1.0);
  EXPECT_DOUBLE_EQ(s.models[2].preprocessing.mean[0], 0.48145466);
  EXPECT_DOUBLE_EQ(s.models[2].preprocessing.std[2], 0.27577711);
  EXPECT_THAT(s.methods[0].params, ElementsAre(Pair("init", "normal"), Pair("pad", "30")));
  EXPECT_THAT(s.methods[1].params,
              ElementsAre(Pair("alpha", "1"), Pair("temperature", "2")));
  EXPECT_THAT(s.methods[2].params,
              ElementsAre(Pair("fisher_dataset", "pretrain-val"),
                          Pair("fisher_samples", "1024"), Pair("lambda", "100")));
  EXPECT_THAT(s.methods[3].params, ElementsAre(Pair("lambda", "1")));
  EXPECT_THAT(s.methods[4].params, ElementsAre(Pair("alpha", "0.5")));
  EXPECT_EQ(s.finetune_datasets, SuiteDownstreamDatasets("imagenet-rib"));
  ASSERT_EQ(s.eval_datasets.size(), 9u);
  EXPECT_EQ(s.eval_datasets[0], "imagenet-val");
  EXPECT_EQ(s.eval_datasets[8], "imagenet-c");
  EXPECT_DOUBLE_EQ(s.training.lr, 1e-3);
  EXPECT_EQ(s.training.epochs, 10);
  EXPECT_EQ(s.training.seed, 0);
}

TEST(ParseSweepYaml, NumbersAreCanonicalWhateverTheSpelling) {
  RIB_ASSERT_OK_AND_ASSIGN(
      SweepSpec s,
      ParseSweepYaml("name: t\n"
                     "models: [{name: m, arch: fmnist_vit, weights: w}]\n"
                     "methods:\n"
                     "  - {kind: lora, params: {alpha: 1.0, rank: '08'}}\n"
                     "  - {name: w1, kind: wise-ft, params: {alpha: 1e-1}}\n"
                     "  - {name: w2, kind: wise-ft, params: {alpha: .25}}\n"));
  EXPECT_THAT(s.methods[0].params, ElementsAre(Pair("alpha", "1"), Pair("rank", "8"),
                                              Pair("train_extra", "reference")));
  EXPECT_THAT(s.methods[1].params, ElementsAre(Pair("alpha", "0.1")));
  EXPECT_THAT(s.methods[2].params, ElementsAre(Pair("alpha", "0.25")));
}

struct BadCase {
  const char* what;
  std::string yaml;
  std::string expected;  // substring of the message: "src:line: field: ..."
};

// A valid file is lines 1-4 of kHead + kTail; each case edits it.
const char kName[] = "name: t\n";  // 1
const char kModels[] =
    "models:\n  - {name: m, arch: fmnist_vit, weights: w.st}\n";  // 2-3
const char kMethods[] = "methods: [ft]\n";                        // 4

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.what; }

class MalformedSweepTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedSweepTest, IsInvalidArgumentNamingLineAndField) {
  const BadCase& c = GetParam();
  EXPECT_THAT(ParseSweepYaml(c.yaml, "bad.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.expected)))
      << c.what;
}

std::string S(std::initializer_list<std::string> parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSweepTest,
    ::testing::Values(
        BadCase{
            "typo in a bare method", S({kName, kModels, "methods:\n  - ft\n  - lorra\n"}),
            "bad.yaml:6: methods[1]: unknown method 'lorra' (expected one of pre, ft, "
            "lp, lpft, lora, vp, lwf, ewc, l2sp, wise-ft, soup, otdd)"},
        BadCase{"typo in a method kind",
                S({kName, kModels,
                   "methods:\n  - ft\n  - lp\n  - {kind: lorra, params: {rank: 4}}\n"}),
                "bad.yaml:7: methods[2].kind: unknown method 'lorra' (expected one of"},
        BadCase{"unknown top-level key",
                S({kName, kModels, kMethods, "trainig: {lr: 1}\n"}),
                "bad.yaml:5: trainig: unknown key (expected one of name, suite"},
        BadCase{"unknown training key",
                S({kName, kModels, kMethods, "training:\n  lr: 0.1\n  lrr: 0.2\n"}),
                "bad.yaml:7: training.lrr: unknown key"},
        BadCase{"unknown model key",
                S({kName,
                   "models:\n  - name: m\n    arch: fmnist_vit\n    weights: w\n"
                   "    weigths: v\n",
                   kMethods}),
                "bad.yaml:6: models[0].weigths: unknown key"},
        BadCase{"unknown preprocessing key",
                S({kName,
                   "models:\n  - {name: m, arch: fmnist_vit, weights: w,\n"
                   "     preprocessing: {crop: 0.9}}\n",
                   kMethods}),
                "bad.yaml:4: models[0].preprocessing.crop: unknown key"},
        BadCase{"unknown method key",
                S({kName, kModels, "methods:\n  - {kind: ft, parms: {}}\n"}),
                "bad.yaml:5: methods[0].parms: unknown key"},
        BadCase{"models is not a list", S({kName, "models: vit\n", kMethods}),
                "bad.yaml:2: models: expected a list, got 'vit'"},
        BadCase{"lr is not a number",
                S({kName, kModels, kMethods, "training: {lr: fast}\n"}),
                "bad.yaml:5: training.lr: expected a number, got 'fast'"},
        BadCase{"epochs is not an integer",
                S({kName, kModels, kMethods, "training:\n  epochs: 2.5\n"}),
                "bad.yaml:6: training.epochs: expected an integer, got '2.5'"},
        BadCase{"skip_corrupt is not a bool",
                S({kName, kModels, kMethods, "training: {skip_corrupt: maybe}\n"}),
                "bad.yaml:5: training.skip_corrupt: expected true or false"},
        BadCase{"a method entry is a list", S({kName, kModels, "methods:\n  - [ft]\n"}),
                "bad.yaml:5: methods[0]: expected a method kind or a map, got a list"},
        BadCase{"missing models", S({kName, kMethods}),
                "bad.yaml:1: models: missing (a sweep needs at least one model)"},
        BadCase{"missing methods", S({kName, kModels}), "bad.yaml:1: methods: missing"},
        BadCase{"missing name", S({kModels, kMethods}), "bad.yaml:1: name: missing"},
        BadCase{"missing arch",
                S({kName, "models:\n  - {name: m, weights: w}\n", kMethods}),
                "bad.yaml:3: models[0].arch: missing"},
        BadCase{"empty methods", S({kName, kModels, "methods: []\n"}),
                "bad.yaml:4: methods: empty list"},
        BadCase{"empty models", S({kName, "models: []\n", kMethods}),
                "bad.yaml:2: models: empty list"},
        BadCase{"lr zero", S({kName, kModels, kMethods, "training: {lr: 0}\n"}),
                "bad.yaml:5: training.lr: must be > 0, got 0"},
        BadCase{"lr negative", S({kName, kModels, kMethods, "training: {lr: -1e-3}\n"}),
                "bad.yaml:5: training.lr: must be > 0, got -1e-3"},
        BadCase{"batch zero",
                S({kName, kModels, kMethods, "training: {batch_size: 0}\n"}),
                "bad.yaml:5: training.batch_size: must be in [1, 1048576], got 0"},
        BadCase{
            "optimizer adam",
            S({kName, kModels, kMethods, "training: {optimizer: adam}\n"}),
            "bad.yaml:5: training.optimizer: unknown value 'adam' (expected one of sgd, "
            "adamw)"},
        BadCase{"momentum one",
                S({kName, kModels, kMethods, "training: {momentum: 1}\n"}),
                "bad.yaml:5: training.momentum: must be in [0, 1), got 1"},
        BadCase{"test_fraction one", S({kName, kModels, kMethods, "test_fraction: 1\n"}),
                "bad.yaml:5: test_fraction: must be in (0, 1), got 1"},
        BadCase{"test_fraction zero",
                S({kName, kModels, kMethods, "test_fraction: 0.0\n"}),
                "bad.yaml:5: test_fraction: must be in (0, 1), got 0.0"},
        BadCase{"devices zero", S({kName, kModels, kMethods, "devices: 0\n"}),
                "bad.yaml:5: devices: must be in [1, 64], got 0"},
        BadCase{"device_kind gpu", S({kName, kModels, kMethods, "device_kind: gpu\n"}),
                "bad.yaml:5: device_kind: unknown value 'gpu' (expected one of any, cpu, "
                "cuda)"},
        BadCase{"objectnet_mode typo",
                S({kName, kModels, kMethods, "objectnet_mode: paper\n"}),
                "bad.yaml:5: objectnet_mode: unknown value 'paper' (expected one of "
                "standard, reference)"},
        BadCase{"max_attempts zero", S({kName, kModels, kMethods, "max_attempts: 0\n"}),
                "bad.yaml:5: max_attempts: must be in [1, 100], got 0"},
        BadCase{
            "wise-ft alpha above 1",
            S({kName, kModels, "methods:\n  - {kind: wise-ft, params: {alpha: 1.5}}\n"}),
            "bad.yaml:5: methods[0].params.alpha: must be in [0, 1], got 1.5"},
        BadCase{"lora rank zero",
                S({kName, kModels, "methods:\n  - {kind: lora, params: {rank: 0}}\n"}),
                "bad.yaml:5: methods[0].params.rank: must be in [1, 4096], got 0"},
        BadCase{"lora rank not an integer",
                S({kName, kModels, "methods:\n  - {kind: lora, params: {rank: 4.5}}\n"}),
                "bad.yaml:5: methods[0].params.rank: expected an integer, got '4.5'"},
        BadCase{
            "unknown lora param",
            S({kName, kModels, "methods:\n  - kind: lora\n    params:\n      rnak: 4\n"}),
            "bad.yaml:7: methods[0].params.rnak: unknown parameter of lora (expected "
            "one of alpha, rank, train_extra)"},
        BadCase{"ft takes no params",
                S({kName, kModels, "methods:\n  - {kind: ft, params: {lr: 1}}\n"}),
                "bad.yaml:5: methods[0].params.lr: method 'ft' takes no parameters"},
        BadCase{"crop_pct zero",
                S({kName,
                   "models:\n  - {name: m, arch: fmnist_vit, weights: w,"
                   " preprocessing: {crop_pct: 0}}\n",
                   kMethods}),
                "bad.yaml:3: models[0].preprocessing.crop_pct: must be in (0, 1], got 0"},
        BadCase{"mean is not per RGB channel",
                S({kName,
                   "models:\n  - {name: m, arch: fmnist_vit, weights: w,"
                   " preprocessing: {mean: [0.5]}}\n",
                   kMethods}),
                "bad.yaml:3: models[0].preprocessing.mean: expected 3 numbers (R, G, B), "
                "got 1"},
        BadCase{"duplicate model names",
                S({kName,
                   "models:\n  - {name: m, arch: fmnist_vit, weights: a}\n"
                   "  - {name: m, arch: fmnist_resnet, weights: b}\n",
                   kMethods}),
                "bad.yaml:4: models[1].name: duplicate model name 'm' (also models[0])"},
        BadCase{"duplicate bare methods",
                S({kName, kModels, "methods:\n  - ft\n  - ft\n"}),
                "bad.yaml:6: methods[1]: duplicate method name 'ft'"},
        BadCase{"duplicate named methods",
                S({kName, kModels,
                   "methods:\n  - {name: a, kind: lora}\n"
                   "  - {name: a, kind: lora, params: {rank: 4}}\n"}),
                "bad.yaml:6: methods[1].name: duplicate method name 'a'"},
        BadCase{"same configuration twice",
                S({kName, kModels,
                   "methods:\n  - {name: a, kind: lora}\n"
                   "  - {name: b, kind: lora, params: {rank: 8}}\n"}),
                "bad.yaml:6: methods[1]: same kind and parameters as methods[0] ('a')"},
        BadCase{"method named after another kind",
                S({kName, kModels, "methods:\n  - {name: lp, kind: ft}\n"}),
                "bad.yaml:5: methods[0].name: 'lp' is the name of a method kind"},
        BadCase{"dotdot in weights",
                S({kName,
                   "models:\n  - {name: m, arch: fmnist_vit, weights: a/../../etc/x}\n",
                   kMethods}),
                "bad.yaml:3: models[0].weights: 'a/../../etc/x' has a '..' component"},
        BadCase{"slash in a model name",
                S({kName, "models:\n  - {name: a/b, arch: fmnist_vit, weights: w}\n",
                   kMethods}),
                "bad.yaml:3: models[0].name: 'a/b' has a character outside"},
        BadCase{
            "unknown finetune dataset",
            S({kName, kModels, kMethods, "finetune_datasets: [fmnist-v2, fmnist-b]\n"}),
            "bad.yaml:5: finetune_datasets[1]: unknown dataset 'fmnist-b' for suite "
            "fmnist-rib (expected one of fmnist-v2,"},
        BadCase{"dataset of the other suite",
                S({kName, kModels, kMethods, "eval_datasets: [imagenet-a]\n"}),
                "bad.yaml:5: eval_datasets[0]: unknown dataset 'imagenet-a' for suite "
                "fmnist-rib (expected one of fmnist-val,"},
        BadCase{
            "fine-tuning on the val analogue",
            S({kName, kModels, kMethods, "finetune_datasets: [fmnist-val]\n"}),
            "bad.yaml:5: finetune_datasets[0]: 'fmnist-val' is the pre-training set's "
            "analogue"},
        BadCase{"dataset listed twice",
                S({kName, kModels, kMethods, "eval_datasets: [fmnist-a, fmnist-a]\n"}),
                "bad.yaml:5: eval_datasets[1]: 'fmnist-a' is listed twice"},
        BadCase{"empty dataset list",
                S({kName, kModels, kMethods, "finetune_datasets: []\n"}),
                "bad.yaml:5: finetune_datasets: empty list"},
        BadCase{"soup member missing",
                S({kName, kModels,
                   "methods:\n  - ft\n  - {kind: soup, members: [ft,\n     lp]}\n"}),
                "bad.yaml:7: methods[1].members[1]: 'lp' is not a method of this sweep "
                "(methods: ft, soup)"},
        BadCase{"soup of a soup",
                S({kName, kModels,
                   "methods:\n  - ft\n  - {kind: soup, members: [ft]}\n"
                   "  - {name: s2, kind: soup, members: [soup]}\n"}),
                "bad.yaml:7: methods[2].members[0]: 'soup' is a soup method"},
        BadCase{
            "soup of pre",
            S({kName, kModels, "methods:\n  - pre\n  - {kind: soup, members: [pre]}\n"}),
            "bad.yaml:6: methods[1].members[0]: 'pre' is a pre method; the pre-trained "
            "weights join a soup through its include_pre parameter"},
        BadCase{
            "soup of vp (issue 15.9: its prompt is not a weight)",
            S({kName, kModels, "methods:\n  - vp\n  - {kind: soup, members: [vp]}\n"}),
            "bad.yaml:6: methods[1].members[0]: 'vp' is a vp method; a soup averages "
            "weights, and vp's learned prompt is not one"},
        BadCase{"soup without members",
                S({kName, kModels, "methods:\n  - ft\n  - {kind: soup}\n"}),
                "bad.yaml:6: methods[1].members: missing"},
        BadCase{"members on a non-soup",
                S({kName, kModels, "methods:\n  - {kind: ft, members: [lp]}\n"}),
                "bad.yaml:5: methods[0].members: only a soup has members"},
        BadCase{
            "unknown suite", S({kName, kModels, kMethods, "suite: cifar-rib\n"}),
            "bad.yaml:5: suite: unknown value 'cifar-rib' (expected one of fmnist-rib, "
            "imagenet-rib)"},
        BadCase{"unknown split", S({kName, kModels, kMethods, "split: random\n"}),
                "bad.yaml:5: split: unknown value 'random'"},
        BadCase{"unknown precision",
                S({kName, kModels, kMethods, "training: {precision: fp8}\n"}),
                "bad.yaml:5: training.precision: unknown value 'fp8'"},
        BadCase{"duplicate key",
                S({kName, kModels, kMethods, "devices: 1\ndevices: 2\n"}),
                "bad.yaml:6: devices: duplicate key"},
        BadCase{"malformed YAML", S({kName, "models: [\n", kMethods}), "bad.yaml:"},
        BadCase{"empty file", "", "bad.yaml:1: sweep: the file is empty"},
        BadCase{"top level is a list", "- a\n- b\n",
                "bad.yaml:1: sweep: expected a map"}));

TEST(ParseSweepYaml, ValidBaseParses) {
  EXPECT_THAT(ParseSweepYaml(S({kName, kModels, kMethods})), IsOk());
}

TEST(ParseSweepYaml, MalformedYamlNamesTheLine) {
  absl::StatusOr<SweepSpec> s = ParseSweepYaml(
      "name: t\nmodels:\n  - {name: m, arch: a, weights: w\nmethods: [ft]\n", "x.yaml");
  ASSERT_THAT(s,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed YAML")));
  EXPECT_THAT(std::string(s.status().message()), ::testing::StartsWith("x.yaml:"));
}

// ---- objectnet_mode (issue 15.9): into every job's spec, hashed only when not the default

TEST(ParseSweepYaml, ObjectnetModeReachesTheJobsAndTheirHashOnlyWhenReference) {
  auto jobs = [](const std::string& extra) {
    absl::StatusOr<SweepSpec> s = ParseSweepYaml(S({kName, kModels, kMethods, extra}));
    EXPECT_TRUE(s.ok()) << s.status();
    s->models[0].weights_digest = std::string(64, '0');
    absl::StatusOr<std::vector<PlannedJob>> out = ExpandSweep(*s);
    EXPECT_TRUE(out.ok()) << out.status();
    return *out;
  };
  const std::vector<PlannedJob> none = jobs("");
  const std::vector<PlannedJob> standard = jobs("objectnet_mode: standard\n");
  const std::vector<PlannedJob> reference = jobs("objectnet_mode: reference\n");
  ASSERT_EQ(none.size(), reference.size());
  for (size_t i = 0; i < none.size(); ++i) {
    EXPECT_EQ(none[i].spec.objectnet_mode, "standard");
    EXPECT_EQ(reference[i].spec.objectnet_mode, "reference");
    EXPECT_EQ(none[i].hash, standard[i].hash) << none[i].key;   // the default: as before
    EXPECT_NE(none[i].hash, reference[i].hash) << none[i].key;  // another mapping
  }
}

// ---- seeds: [...] (issue 15.9) ----

TEST(ParseSweepYaml, SeedsAreParsedInOrder) {
  RIB_ASSERT_OK_AND_ASSIGN(
      SweepSpec s, ParseSweepYaml(S({kName, kModels, kMethods, "seeds: [2, 0, 1]\n"})));
  EXPECT_THAT(s.seeds, ElementsAre(2, 0, 1));
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec none, ParseSweepYaml(S({kName, kModels, kMethods})));
  EXPECT_TRUE(none.seeds.empty());
}

TEST(ParseSweepYaml, BadSeedsAreInvalidNamingTheSeed) {
  auto parse = [](const std::string& extra) {
    return ParseSweepYaml(S({kName, kModels, kMethods, extra}), "bad.yaml").status();
  };
  EXPECT_THAT(parse("seeds: [0, 1, 0]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad.yaml:5: seeds[2]: seed 0 is listed twice")));
  EXPECT_THAT(parse("seeds: [-1]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("seeds[0]: must be >= 0, got -1")));
  EXPECT_THAT(parse("seeds: []\n"), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("seeds: empty list")));
  EXPECT_THAT(parse("seeds: 3\n"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("seeds: expected a list")));
  EXPECT_THAT(parse("seeds: [x]\n"), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("seeds[0]: expected an integer")));
  EXPECT_THAT(parse("training: {seed: 3}\nseeds: [0, 1]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.seed: give either training.seed or seeds")));
  std::string many = "seeds: [0";
  for (int i = 1; i <= kMaxSeeds; ++i) many += ", " + std::to_string(i);
  EXPECT_THAT(parse(many + "]\n"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("at most 32 seeds, got 33")));
}

}  // namespace
}  // namespace rib::spec
