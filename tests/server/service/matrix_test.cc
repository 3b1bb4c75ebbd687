// BuildMatrices: the robustness-inheritance matrix and its metrics from job rows.
#include "server/service/matrix.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::service {
namespace {

using domain::JobState;
using ::testing::SizeIs;

TEST(MatrixTest, ImageNetCCellIsTheMeanOfItsSubsetsAndMetricsFollow) {
  domain::Sweep sweep;
  sweep.id = "s";
  sweep.suite = "fmnist-rib";
  sweep.models = {"m"};
  sweep.methods = {"ft"};
  sweep.finetune_datasets = {"fmnist-v2", "fmnist-c"};
  sweep.eval_datasets = {"fmnist-val", "fmnist-v2", "fmnist-c"};
  auto acc = [](const char* d, const char* subset, int correct, int total) {
    return ResultRow{d, subset, correct, total, 0};
  };
  std::vector<storage::MatrixJob> jobs(3);
  jobs[0] = {"j0",
             "m",
             "pre",
             "pre",
             "",
             JobState::kSucceeded,
             {acc("fmnist-val", "", 90, 100), acc("fmnist-v2", "", 80, 100),
              acc("fmnist-c", "fog/1", 70, 100), acc("fmnist-c", "fog/2", 10, 50)}};
  jobs[1] = {"j1",
             "m",
             "ft",
             "ft",
             "fmnist-v2",
             JobState::kSucceeded,
             {acc("fmnist-val", "", 85, 100), acc("fmnist-v2", "", 95, 100),
              acc("fmnist-c", "fog/1", 50, 100), acc("fmnist-c", "fog/2", 20, 50)}};
  jobs[2] = {"j2",
             "m",
             "ft",
             "ft",
             "fmnist-c",
             JobState::kRunning,
             {acc("fmnist-val", "", 80, 100)}};
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> out,
                           BuildMatrices(sweep, jobs, "", ""));
  ASSERT_THAT(out, SizeIs(1));
  const domain::Matrix& m = out[0];
  EXPECT_EQ(m.pretrain_dataset, "fmnist-val");
  // IN-C: mean(0.7, 0.2) = 0.45, not pooled 80/150.
  EXPECT_DOUBLE_EQ(m.baseline.cells[2].accuracy, 0.45);
  EXPECT_EQ(m.baseline.cells[2].correct, 80);
  EXPECT_EQ(m.baseline.cells[2].total, 150);
  EXPECT_DOUBLE_EQ(m.rows[0].cells[2].accuracy, 0.45);  // mean(0.5, 0.4)
  ASSERT_TRUE(m.rows[0].ri.has_value());
  EXPECT_NEAR(*m.rows[0].ri, 0.0, 1e-12);  // only fmnist-c counts for row fmnist-v2
  EXPECT_NEAR(*m.rows[0].pretrain_change, -0.05, 1e-12);
  // Binomial SEs: a whole-dataset cell sqrt(p(1-p)/n); the IN-C mean of fog/1 70/100
  // (var .0021) and fog/2 10/50 (var .0032) has sqrt(.0053) / 2.
  EXPECT_NEAR(m.baseline.cells[1].se, std::sqrt(0.8 * 0.2 / 100), 1e-12);
  EXPECT_NEAR(m.baseline.cells[2].se, std::sqrt(0.0053) / 2, 1e-12);
  // Row fmnist-v2's IN-C: fog/1 50/100 (var .0025), fog/2 20/50 (var .0048). RI uses
  // that cell minus the baseline's: se = sqrt(.0053 / 4 + .0073 / 4).
  const double ri_se = std::sqrt(0.0126) / 2;
  EXPECT_NEAR(m.rows[0].cells[2].se, std::sqrt(0.0073) / 2, 1e-12);
  ASSERT_TRUE(m.rows[0].ri_se.has_value());
  EXPECT_NEAR(*m.rows[0].ri_se, ri_se, 1e-12);
  ASSERT_TRUE(m.rows[0].ri_ci.has_value());
  EXPECT_NEAR(m.rows[0].ri_ci->low, -1.959963984540054 * ri_se, 1e-12);
  EXPECT_NEAR(m.rows[0].ri_ci->high, 1.959963984540054 * ri_se, 1e-12);
  EXPECT_FALSE(m.mri_ci.has_value());  // as mri
  EXPECT_TRUE(m.rows[1].cells[0].present);
  EXPECT_FALSE(m.rows[1].cells[1].present);
  EXPECT_FALSE(m.rows[1].ri.has_value());
  EXPECT_FALSE(m.mri.has_value());  // a row is incomplete
  EXPECT_EQ(m.rows[1].job_state, JobState::kRunning);
  EXPECT_EQ(m.baseline.job_state, JobState::kSucceeded);
}

// Sweep "s" of model m and method ft, fine-tuned on fmnist-v2, evaluated on `evals`.
domain::Sweep FtOnV2(std::vector<std::string> evals) {
  domain::Sweep sweep;
  sweep.id = "s";
  sweep.suite = "fmnist-rib";
  sweep.models = {"m"};
  sweep.methods = {"ft"};
  sweep.finetune_datasets = {"fmnist-v2"};
  sweep.eval_datasets = std::move(evals);
  return sweep;
}

TEST(MatrixTest, CellsOfAFailedOrRunningJobAreShownButEnterNoMetric) {
  const domain::Sweep sweep = FtOnV2({"fmnist-val", "fmnist-v2"});
  const std::vector<ResultRow> full = {{"fmnist-val", "", 90, 100, 0},
                                       {"fmnist-v2", "", 80, 100, 0}};
  const std::vector<ResultRow> ft = {{"fmnist-val", "", 70, 100, 0},
                                     {"fmnist-v2", "", 95, 100, 0}};
  for (JobState state : {JobState::kSucceeded, JobState::kFailed, JobState::kRunning}) {
    std::vector<storage::MatrixJob> jobs = {
        {"j0", "m", "pre", "pre", "", JobState::kSucceeded, full},
        {"j1", "m", "ft", "ft", "fmnist-v2", state, ft}};
    RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> out,
                             BuildMatrices(sweep, jobs, "", ""));
    const domain::MatrixRow& row = out[0].rows[0];
    EXPECT_EQ(row.job_state, state);
    // The cells are there either way (a user may look at partial numbers) ...
    EXPECT_TRUE(row.cells[0].present);
    EXPECT_DOUBLE_EQ(row.cells[0].accuracy, 0.7);
    // ... but only a succeeded job's enter the metrics.
    const bool final = state == JobState::kSucceeded;
    EXPECT_EQ(row.pretrain_change.has_value(), final) << domain::JobStateName(state);
    EXPECT_EQ(out[0].mean_pretrain_change.has_value(), final);
    if (final) EXPECT_NEAR(*row.pretrain_change, -0.2, 1e-12);
  }
}

// A sweep with seeds: each seed's matrix alone, then the mean and sample sd over seeds.
//   seed 0: pre val .90 v2 .80 a .50; ft on v2: val .85 v2 .95 a .40 -> RI -.10
//   seed 1: pre val .90 v2 .80 a .60; ft on v2: val .80 v2 .90 a .40 -> RI -.20
TEST(MatrixTest, SeedsGiveTheMeanAndSdOverSeeds) {
  const domain::Sweep sweep = FtOnV2({"fmnist-val", "fmnist-v2", "fmnist-a"});
  auto rows = [](int val, int v2, int a) {
    return std::vector<ResultRow>{{"fmnist-val", "", val, 100, 0},
                                  {"fmnist-v2", "", v2, 100, 0},
                                  {"fmnist-a", "", a, 100, 0}};
  };
  auto job = [](const char* id, const char* method, const char* dataset, JobState state,
                std::vector<ResultRow> results, int64_t seed) {
    storage::MatrixJob j{id, "m", method, method, dataset, state, std::move(results)};
    j.seed = seed;
    return j;
  };
  std::vector<storage::MatrixJob> jobs = {
      job("p0", "pre", "", JobState::kSucceeded, rows(90, 80, 50), 0),
      job("f0", "ft", "fmnist-v2", JobState::kSucceeded, rows(85, 95, 40), 0),
      job("p1", "pre", "", JobState::kSucceeded, rows(90, 80, 60), 1),
      job("f1", "ft", "fmnist-v2", JobState::kSucceeded, rows(80, 90, 40), 1)};
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> out,
                           BuildMatrices(sweep, jobs, "", ""));
  ASSERT_THAT(out, SizeIs(1));
  const domain::Matrix& m = out[0];
  EXPECT_THAT(m.seeds, ::testing::ElementsAre(0, 1));
  const double sd_of_tenth = 0.1 / std::sqrt(2.0);  // two values .1 apart
  // Cells: the mean over seeds, counts summed, SE of the mean, sd over seeds.
  EXPECT_NEAR(m.baseline.cells[2].accuracy, 0.55, 1e-12);
  EXPECT_NEAR(m.baseline.cells[2].seed_sd, sd_of_tenth, 1e-12);
  EXPECT_EQ(m.baseline.cells[2].correct, 110);
  EXPECT_EQ(m.baseline.cells[2].total, 200);
  EXPECT_NEAR(m.baseline.cells[2].se,
              std::sqrt(0.5 * 0.5 / 100 + 0.6 * 0.4 / 100) / 2, 1e-12);
  EXPECT_NEAR(m.rows[0].cells[2].accuracy, 0.40, 1e-12);
  EXPECT_NEAR(m.rows[0].cells[2].seed_sd, 0.0, 1e-12);
  // RI: mean of -.10 and -.20, sd over seeds; its interval from the mean's SE.
  ASSERT_TRUE(m.rows[0].ri.has_value());
  EXPECT_NEAR(*m.rows[0].ri, -0.15, 1e-12);
  EXPECT_NEAR(*m.rows[0].ri_seed_sd, sd_of_tenth, 1e-12);
  ASSERT_TRUE(m.rows[0].ri_se.has_value() && m.rows[0].ri_ci.has_value());
  EXPECT_NEAR(m.rows[0].ri_ci->high - m.rows[0].ri_ci->low,
              2 * 1.959963984540054 * *m.rows[0].ri_se, 1e-12);
  EXPECT_NEAR(*m.rows[0].pretrain_change, -0.075, 1e-12);
  ASSERT_TRUE(m.mri.has_value());
  EXPECT_NEAR(*m.mri, -0.15, 1e-12);
  EXPECT_NEAR(*m.mri_seed_sd, sd_of_tenth, 1e-12);
  EXPECT_NEAR(*m.mean_ood, 0.40, 1e-12);
  EXPECT_NEAR(*m.pre_mean_ood, 0.55, 1e-12);
  EXPECT_EQ(m.rows[0].job_state, JobState::kSucceeded);

  // One seed's job still running: its row says so and no seed mean enters a metric.
  jobs[3].state = JobState::kRunning;
  RIB_ASSERT_OK_AND_ASSIGN(out, BuildMatrices(sweep, jobs, "", ""));
  EXPECT_EQ(out[0].rows[0].job_state, JobState::kRunning);
  EXPECT_FALSE(out[0].rows[0].ri.has_value());
  EXPECT_FALSE(out[0].mri.has_value());
}

// OTDD: each row reads its (model, dataset)'s succeeded otdd job; the correlation is
// over the (model, dataset) rows of the method that have both values. By hand, the
// points (otdd, change) are (1, −.05), (2, −.10), (3, −.20) (m2's fmnist-c otdd job
// is still running): dx = −1 0 1, dy = .2/3 .05/3 −.25/3, Σdxdy = −.15, Σdx² = 2,
// Σdy² = .105/9; r = −.15 / √(2 · .105/9); ρ = −1 (monotone); slope −.075,
// intercept ȳ − slope · x̄ = −.35/3 + .15.
TEST(MatrixTest, OtddPerRowAndItsCorrelationWithThePretrainChange) {
  domain::Sweep sweep;
  sweep.id = "s";
  sweep.suite = "fmnist-rib";
  sweep.models = {"m1", "m2"};
  sweep.methods = {"ft", "otdd"};
  sweep.finetune_datasets = {"fmnist-v2", "fmnist-c"};
  sweep.eval_datasets = {"fmnist-val"};
  auto val = [](int correct) {
    return std::vector<ResultRow>{{"fmnist-val", "", correct, 100, 0}};
  };
  auto otdd = [](const char* id, const char* model, const char* d, double value,
                 JobState state) {
    storage::MatrixJob j{id, model, "otdd", "otdd", d, state, {}};
    j.distance = DatasetDistanceRow{"fmnist-val", d, value, 100, 100, 0.1, true};
    return j;
  };
  using J = storage::MatrixJob;
  std::vector<J> jobs = {
      J{"p1", "m1", "pre", "pre", "", JobState::kSucceeded, val(90)},
      J{"a", "m1", "ft", "ft", "fmnist-v2", JobState::kSucceeded, val(85)},
      J{"b", "m1", "ft", "ft", "fmnist-c", JobState::kSucceeded, val(80)},
      J{"p2", "m2", "pre", "pre", "", JobState::kSucceeded, val(90)},
      J{"c", "m2", "ft", "ft", "fmnist-v2", JobState::kSucceeded, val(70)},
      J{"d", "m2", "ft", "ft", "fmnist-c", JobState::kSucceeded, val(60)},
      otdd("o1", "m1", "fmnist-v2", 1, JobState::kSucceeded),
      otdd("o2", "m1", "fmnist-c", 2, JobState::kSucceeded),
      otdd("o3", "m2", "fmnist-v2", 3, JobState::kSucceeded),
      otdd("o4", "m2", "fmnist-c", 4, JobState::kRunning),
  };
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> out,
                           BuildMatrices(sweep, jobs, "", ""));
  ASSERT_THAT(out, SizeIs(2));  // otdd is no matrix of its own
  EXPECT_EQ(out[0].method, "ft");
  EXPECT_EQ(out[0].rows[0].otdd, 1.0);
  EXPECT_EQ(out[0].rows[1].otdd, 2.0);
  EXPECT_EQ(out[1].rows[0].otdd, 3.0);
  EXPECT_FALSE(out[1].rows[1].otdd.has_value());  // its job has not succeeded
  for (const domain::Matrix& m : out) {
    ASSERT_TRUE(m.otdd_correlation.has_value()) << m.model;
    EXPECT_EQ(m.otdd_correlation->n, 3);
    EXPECT_NEAR(m.otdd_correlation->pearson, -0.15 / std::sqrt(2 * 0.105 / 9), 1e-9);
    EXPECT_NEAR(m.otdd_correlation->spearman, -1.0, 1e-12);
    ASSERT_TRUE(m.otdd_line.has_value());
    EXPECT_NEAR(m.otdd_line->slope, -0.075, 1e-12);
    EXPECT_NEAR(m.otdd_line->intercept, -0.35 / 3 + 0.15, 1e-12);
  }
  // One model alone has 2 points: no correlation.
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> one,
                           BuildMatrices(sweep, jobs, "m1", ""));
  ASSERT_THAT(one, SizeIs(1));
  EXPECT_FALSE(one[0].otdd_correlation.has_value());
  EXPECT_EQ(one[0].rows[1].otdd, 2.0);
}

// A SUCCEEDED job of model m with these results.
storage::MatrixJob SucceededJob(const char* id, const char* method, const char* finetune,
                                std::vector<ResultRow> results) {
  storage::MatrixJob j;
  j.job_id = id;
  j.model = "m";
  j.method = j.method_kind = method;
  j.finetune_dataset = finetune;
  j.state = JobState::kSucceeded;
  j.results = std::move(results);
  return j;
}

// Per-image bits give RI and mRI a bootstrap interval (BootstrapRiIntervals); a job
// without bits gives none, the counts-based figures stay.
TEST(MatrixTest, PerImageBitsGiveBootstrapIntervals) {
  const domain::Sweep sweep = FtOnV2({"fmnist-val", "fmnist-v2", "fmnist-r"});
  // 16 images per dataset: pre right on none of fmnist-r, ft on all of them, so
  // RI = A_r(ft) - A_r(pre) = 1 in every resample.
  auto row = [](const char* d, bool right) {
    return ResultRow{d, "", right ? 16 : 0, 16, 0, std::string(2, right ? '\xff' : '\0')};
  };
  auto job = [&row](const char* id, const char* method, const char* finetune,
                    bool right) {
    return SucceededJob(id, method, finetune,
                        {row("fmnist-r", right), row("fmnist-v2", right),
                         row("fmnist-val", true)});
  };
  std::vector<storage::MatrixJob> jobs = {job("j0", "pre", "", false),
                                          job("j1", "ft", "fmnist-v2", true)};
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> out,
                           BuildMatrices(sweep, jobs, "", ""));
  ASSERT_THAT(out, SizeIs(1));
  ASSERT_TRUE(out[0].rows[0].ri.has_value());
  EXPECT_EQ(*out[0].rows[0].ri, 1.0);
  ASSERT_TRUE(out[0].rows[0].ri_bootstrap_ci.has_value());
  EXPECT_EQ(out[0].rows[0].ri_bootstrap_ci->low, 1.0);
  EXPECT_EQ(out[0].rows[0].ri_bootstrap_ci->high, 1.0);
  ASSERT_TRUE(out[0].mri_bootstrap_ci.has_value());
  EXPECT_EQ(out[0].mri_bootstrap_ci->low, 1.0);
  // The baseline without bits: no bootstrap, RI as before.
  for (ResultRow& r : jobs[0].results) r.correct_bits.clear();
  RIB_ASSERT_OK_AND_ASSIGN(out, BuildMatrices(sweep, jobs, "", ""));
  EXPECT_EQ(*out[0].rows[0].ri, 1.0);
  EXPECT_FALSE(out[0].rows[0].ri_bootstrap_ci.has_value());
  EXPECT_FALSE(out[0].mri_bootstrap_ci.has_value());
}

// Held-out evaluation (issue 15.9): a cell that evaluated part of its dataset
// (evaluated_bits) is compared with the pre job on the same images, for RI, its SE,
// the bootstrap and the "before" of the mean OOD accuracy; the baseline row stays pre
// on all of j. A pre job whose bits do not line up (the old test-split protocol) leaves
// the column's baseline in place.
TEST(MatrixTest, HeldOutCellsAreComparedWithThePreJobOnTheirOwnImages) {
  const domain::Sweep sweep = FtOnV2({"fmnist-val", "fmnist-v2", "fmnist-r"});
  // fmnist-r, 16 images: pre evaluated all and was right on 0-7 (0.5); ft evaluated
  // 0-7 only and was right on 0-3 (0.5). On ft's images pre was right on all 8: RI =
  // 0.5 - 1.0 = -0.5, where the column's baseline would give 0.
  const std::string all(2, '\xff');
  auto job = [&](const char* id, const char* method, const char* finetune,
                 ResultRow r) {
    return SucceededJob(id, method, finetune,
                        {std::move(r), ResultRow{"fmnist-v2", "", 8, 16, 0, all},
                         ResultRow{"fmnist-val", "", 16, 16, 0, all}});
  };
  std::vector<storage::MatrixJob> jobs = {
      job("j0", "pre", "", ResultRow{"fmnist-r", "", 8, 16, 0, std::string("\xff\x00", 2)}),
      job("j1", "ft", "fmnist-v2",
          ResultRow{"fmnist-r", "", 4, 8, 0, std::string("\x0f\x00", 2),
                    std::string("\xff\x00", 2)})};
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> out,
                           BuildMatrices(sweep, jobs, "", ""));
  ASSERT_THAT(out, SizeIs(1));
  const domain::Matrix& m = out[0];
  EXPECT_DOUBLE_EQ(m.baseline.cells[2].accuracy, 0.5);  // pre on all of fmnist-r
  EXPECT_DOUBLE_EQ(m.rows[0].cells[2].accuracy, 0.5);
  ASSERT_TRUE(m.rows[0].ri.has_value());
  EXPECT_NEAR(*m.rows[0].ri, -0.5, 1e-12);
  ASSERT_TRUE(m.mri.has_value());
  EXPECT_NEAR(*m.mri, -0.5, 1e-12);
  ASSERT_TRUE(m.pre_mean_ood.has_value());
  EXPECT_NEAR(*m.pre_mean_ood, 1.0, 1e-12);  // mean_ood - pre_mean_ood = mri
  EXPECT_NEAR(*m.mean_ood, 0.5, 1e-12);
  // SE: the cell's binomial sqrt(.25 / 8); the per-cell baseline's, 8 of 8, is 0.
  ASSERT_TRUE(m.rows[0].ri_se.has_value());
  EXPECT_NEAR(*m.rows[0].ri_se, std::sqrt(0.25 / 8), 1e-12);
  // The bootstrap pairs the same images: before is 1 in every resample, after at most
  // 1 and 0.5 on average, so the interval lies below 0 (the column's would straddle 0).
  ASSERT_TRUE(m.rows[0].ri_bootstrap_ci.has_value());
  EXPECT_LT(m.rows[0].ri_bootstrap_ci->high, 0.0);
  EXPECT_LT(m.rows[0].ri_bootstrap_ci->low, -0.5);
  // The pretrain column was evaluated whole: its change uses the column baseline.
  ASSERT_TRUE(m.rows[0].pretrain_change.has_value());
  EXPECT_NEAR(*m.rows[0].pretrain_change, 0.0, 1e-12);

  // An old-protocol pre job: bits for 8 test images (1 byte), no mask. They do not
  // line up with ft's 16-image bits: the column's baseline (4 / 8) stands in.
  jobs[0].results[0] = ResultRow{"fmnist-r", "", 4, 8, 0, std::string("\x0f", 1)};
  RIB_ASSERT_OK_AND_ASSIGN(out, BuildMatrices(sweep, jobs, "", ""));
  ASSERT_TRUE(out[0].rows[0].ri.has_value());
  EXPECT_NEAR(*out[0].rows[0].ri, 0.0, 1e-12);
  EXPECT_NEAR(*out[0].pre_mean_ood, 0.5, 1e-12);
  EXPECT_FALSE(out[0].rows[0].ri_bootstrap_ci.has_value());
}

}  // namespace
}  // namespace rib::service
