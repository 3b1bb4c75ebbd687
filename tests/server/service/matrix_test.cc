// BuildMatrices: the robustness-inheritance matrix and its metrics from job rows.
#include "server/service/matrix.h"

#include <cmath>

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

TEST(MatrixTest, CellsOfAFailedOrRunningJobAreShownButEnterNoMetric) {
  domain::Sweep sweep;
  sweep.id = "s";
  sweep.suite = "fmnist-rib";
  sweep.models = {"m"};
  sweep.methods = {"ft"};
  sweep.finetune_datasets = {"fmnist-v2"};
  sweep.eval_datasets = {"fmnist-val", "fmnist-v2"};
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

}  // namespace
}  // namespace rib::service
