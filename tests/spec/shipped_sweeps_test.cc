// The sweep files the repository ships (the demo's, CI's short one, the paper grid)
// parse and expand: a typo there would only show when a user runs them.
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
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

TEST(ShippedSweeps, DemoSweepHasTwoModelsFiveMethodsEightDatasets) {
  RIB_ASSERT_OK_AND_ASSIGN(auto jobs, ParseAndExpand("scripts/demo_sweep.yaml"));
  // 2 pre + 2 models × 5 methods × 8 datasets; every dependency (lp, ft) is listed.
  EXPECT_EQ(jobs.size(), 2u + 2 * 5 * 8);
  for (const PlannedJob& j : jobs) {
    if (j.spec.method.kind != "pre") EXPECT_EQ(j.spec.eval_datasets.size(), 9u) << j.key;
  }
}

TEST(ShippedSweeps, ShortDemoSweepIsSmall) {
  RIB_ASSERT_OK_AND_ASSIGN(auto jobs, ParseAndExpand("scripts/demo_sweep_short.yaml"));
  EXPECT_EQ(jobs.size(), 1u + 3 * 2);
}

TEST(ShippedSweeps, PaperGridExpands) {
  RIB_ASSERT_OK_AND_ASSIGN(auto jobs,
                           ParseAndExpand("deploy/sweeps/imagenet_rib_paper.yaml"));
  // 4 models: 1 pre + 10 methods × 8 datasets each.
  EXPECT_EQ(jobs.size(), 4u * (1 + 10 * 8));
}

}  // namespace
}  // namespace rib::spec
