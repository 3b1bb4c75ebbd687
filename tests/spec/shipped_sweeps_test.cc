// The sweep files the repository ships (the demo's, CI's short one, the paper grids)
// parse and expand: a typo there would only show when a user runs them.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/testing/hub_cache.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::spec {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::vector<PlannedJob>> ParseAndExpand(const std::string& rel) {
  const std::string text = ReadFile(testing::SourceDir() + "/" + rel);
  if (text.empty()) return absl::NotFoundError(rel + " is empty or missing");
  RIB_ASSIGN_OR_RETURN(SweepSpec spec, ParseSweepYaml(text, rel));
  for (ModelSpec& m : spec.models) m.weights_digest = "digest-of-" + m.weights;
  return ExpandSweep(spec);
}

TEST(ShippedSweeps, DemoSweepHasTwoModelsFourMethodsEightDatasets) {
  RIB_ASSERT_OK_AND_ASSIGN(auto jobs, ParseAndExpand("scripts/demo_sweep.yaml"));
  // 2 pre + 2 models × 4 methods × 8 datasets; every dependency (ft) is listed.
  EXPECT_EQ(jobs.size(), 2u + 2 * 4 * 8);
  std::set<std::string> kinds;
  for (const PlannedJob& j : jobs) {
    kinds.insert(j.spec.method.kind);
    if (j.spec.method.kind != "pre") EXPECT_EQ(j.spec.eval_datasets.size(), 9u) << j.key;
  }
  // The paper's second finding needs LwF and its "EWC" (the uniform L2 penalty, l2sp).
  EXPECT_EQ(kinds, (std::set<std::string>{"pre", "ft", "lwf", "l2sp", "wise-ft"}));
  // Small evaluation batches: with 256, each batch's activations are above glibc's
  // mmap threshold and every batch faults its pages in anew (README, the demo's cost).
  for (const PlannedJob& j : jobs) EXPECT_EQ(j.spec.training.eval_batch_size, 32) << j.key;
}

TEST(ShippedSweeps, ShortDemoSweepIsSmall) {
  RIB_ASSERT_OK_AND_ASSIGN(auto jobs, ParseAndExpand("scripts/demo_sweep_short.yaml"));
  EXPECT_EQ(jobs.size(), 1u + 3 * 2 + 2);  // pre, 3 methods × 2 datasets, 2 otdd
}

// The paper's sweeps name their weights in a hub cache: one is written here with a
// snapshot per model, with or without a config.json in timm's form.
struct PaperGrid {
  SweepSpec sweep;
  std::vector<PlannedJob> jobs;
};

// deploy/sweeps/imagenet_rib_paper_<family>.yaml, resolved; both use split: reference.
absl::StatusOr<PaperGrid> ResolvePaperGrid(const std::string& family, bool with_config) {
  const std::string rel = "deploy/sweeps/imagenet_rib_paper_" + family + ".yaml";
  const std::string text = ReadFile(testing::SourceDir() + "/" + rel);
  if (text.empty()) return absl::NotFoundError(rel + " is empty or missing");
  RIB_ASSIGN_OR_RETURN(SweepSpec spec, ParseSweepYaml(text, rel));
  testing::ScratchDir cache;
  for (const ModelSpec& m : spec.models) {
    RIB_ASSIGN_OR_RETURN(HubReference ref, ParseHubReference(m.weights));
    std::optional<std::string> config;
    if (with_config) {
      // config.json as timm writes it, from the table's row for the repository name.
      const PublishedWeights* w = FindPublishedWeights(ref.name);
      if (w == nullptr) return absl::NotFoundError(ref.name + " is not in the table");
      const Preprocessing& p = w->preprocessing;
      auto exact = [](const std::vector<double>& v) {
        return absl::StrJoin(v, ", ", [](std::string* o, double d) {
          absl::StrAppendFormat(o, "%.17g", d);
        });
      };
      config = absl::StrCat(
          R"({"architecture": ")", ref.name.substr(0, ref.name.find('.')),
          R"(", "num_classes": 1000, "pretrained_cfg": {"input_size": [3, )", p.image_size,
          ", ", p.image_size, R"(], "crop_pct": )", exact({p.crop_pct}), R"(, "interpolation": ")",
          p.interpolation, R"(", "mean": [)", exact(p.mean),
          R"(], "std": [)", exact(p.std), "]}}");
    }
    testing::WriteHubSnapshot(cache.path(), ref.org, ref.name,
                              {std::string(40, 'c'), "w", config});
  }
  RIB_RETURN_IF_ERROR(ResolveHubModels(cache.path(), &spec).status());
  for (ModelSpec& m : spec.models) m.weights_digest = "digest-of-" + m.weights;
  RIB_ASSIGN_OR_RETURN(std::vector<PlannedJob> jobs, ExpandSweep(spec));
  if (spec.split != "reference") {
    return absl::FailedPreconditionError(rel + ": split is " + spec.split +
                                         ", not the paper's reference");
  }
  return PaperGrid{std::move(spec), std::move(jobs)};
}

TEST(ShippedSweeps, PaperVitGridHasTheSevenPretrainingsWithTheirOwnPreprocessing) {
  for (bool with_config : {false, true}) {
    SCOPED_TRACE(with_config ? "config.json" : "table");
    RIB_ASSERT_OK_AND_ASSIGN(PaperGrid grid, ResolvePaperGrid("vit", with_config));
    // 7 models: 1 pre + 9 methods × 8 datasets each.
    EXPECT_EQ(grid.jobs.size(), 7u * (1 + 9 * 8));
    std::vector<std::string> archs;
    for (const ModelSpec& m : grid.sweep.models) {
      archs.push_back(m.arch);
      const PublishedWeights* w = FindPublishedWeights(m.arch);
      ASSERT_NE(w, nullptr) << m.arch;
      EXPECT_DOUBLE_EQ(m.preprocessing.crop_pct, w->preprocessing.crop_pct) << m.arch;
      EXPECT_EQ(m.preprocessing.interpolation, w->preprocessing.interpolation) << m.arch;
      EXPECT_EQ(m.preprocessing.mean, w->preprocessing.mean) << m.arch;
      EXPECT_THAT(m.weights, ::testing::StartsWith("hf-hub/models--timm--" + m.arch));
    }
    EXPECT_THAT(archs, ::testing::UnorderedElementsAre(
                           "vit_base_patch16_224.augreg_in1k", "vit_base_patch16_224.sam_in1k",
                           "vit_base_patch16_224.augreg_in21k_ft_in1k",
                           "vit_base_patch16_224.orig_in21k_ft_in1k",
                           "vit_base_patch16_224_miil.in21k_ft_in1k",
                           "vit_base_patch16_clip_224.laion2b_ft_in1k",
                           "vit_base_patch16_clip_224.openai_ft_in1k"));
    // The paper's "EWC" is rib's l2sp; no Fisher ewc in the grid.
    std::vector<std::string> kinds;
    for (const MethodSpec& m : grid.sweep.methods) kinds.push_back(m.kind);
    EXPECT_THAT(kinds, ::testing::Contains("l2sp"));
    EXPECT_THAT(kinds, ::testing::Not(::testing::Contains("ewc")));
  }
}

TEST(ShippedSweeps, PaperResnetGridUsesTheReferencesResize256) {
  for (bool with_config : {false, true}) {
    SCOPED_TRACE(with_config ? "config.json" : "table");
    RIB_ASSERT_OK_AND_ASSIGN(PaperGrid grid, ResolvePaperGrid("resnet", with_config));
    // 4 models: 1 pre + 8 methods (no lora) × 8 datasets each.
    EXPECT_EQ(grid.jobs.size(), 4u * (1 + 8 * 8));
    for (const ModelSpec& m : grid.sweep.models) {
      // Resize(256) bilinear → CenterCrop(224), ImageNet mean/std: the reference's
      // transform, the V2 weights (whose own is 232) included.
      EXPECT_EQ(m.preprocessing.image_size, 224) << m.arch;
      EXPECT_DOUBLE_EQ(m.preprocessing.crop_pct, 0.875) << m.arch;
      EXPECT_EQ(m.preprocessing.interpolation, "bilinear") << m.arch;
      EXPECT_DOUBLE_EQ(m.preprocessing.mean[0], 0.485) << m.arch;
    }
  }
}

}  // namespace
}  // namespace rib::spec
