#include "common/robustness.h"

#include <cmath>
#include <optional>
#include <vector>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::StatusIs;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::Pair;

constexpr double kTol = 1e-12;

// Columns: the pre-training analogue and three downstream sets; rows fine-tuned on
// each downstream set. By hand:
//   baseline           val .80  d1 .60  d2 .50  d3 .40
//   ft on d1           val .70  d1 .90  d2 .45  d3 .42
//   ft on d2           val .75  d1 .58  d2 .85  d3 .38
//   ft on d3           val .60  d1 .50  d2 .40  d3 .95
//   RI(d1) = ((.45-.50) + (.42-.40)) / 2 = -.015     OOD(d1) = (.45+.42)/2 = .435
//   RI(d2) = ((.58-.60) + (.38-.40)) / 2 = -.020     OOD(d2) = (.58+.38)/2 = .480
//   RI(d3) = ((.50-.60) + (.40-.50)) / 2 = -.100     OOD(d3) = (.50+.40)/2 = .450
//   mRI = -.135 / 3 = -.045; mean OOD = 1.365 / 3 = .455 = mRI + mean(.6,.5,.4)
//   val change: -.10, -.05, -.20; mean -.35 / 3
MatrixInput ThreeByThree() {
  MatrixInput in;
  in.columns = {"fmnist-val", "d1", "d2", "d3"};
  in.pretrain_column = "fmnist-val";
  in.baseline = {0.80, 0.60, 0.50, 0.40};
  in.row_datasets = {"d1", "d2", "d3"};
  in.rows = {
      {0.70, 0.90, 0.45, 0.42}, {0.75, 0.58, 0.85, 0.38}, {0.60, 0.50, 0.40, 0.95}};
  return in;
}

TEST(ComputeMatrixMetrics, CompleteThreeByThree) {
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(ThreeByThree()));
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(m.rows[0].finetune_dataset, "d1");
  EXPECT_THAT(m.rows[0].ri, Optional(DoubleNear(-0.015, kTol)));
  EXPECT_THAT(m.rows[1].ri, Optional(DoubleNear(-0.020, kTol)));
  EXPECT_THAT(m.rows[2].ri, Optional(DoubleNear(-0.100, kTol)));
  EXPECT_THAT(m.rows[0].ood_accuracy, Optional(DoubleNear(0.435, kTol)));
  EXPECT_THAT(m.rows[1].ood_accuracy, Optional(DoubleNear(0.480, kTol)));
  EXPECT_THAT(m.rows[2].ood_accuracy, Optional(DoubleNear(0.450, kTol)));
  EXPECT_THAT(m.rows[0].pretrain_change, Optional(DoubleNear(-0.10, kTol)));
  EXPECT_THAT(m.rows[1].pretrain_change, Optional(DoubleNear(-0.05, kTol)));
  EXPECT_THAT(m.rows[2].pretrain_change, Optional(DoubleNear(-0.20, kTol)));
  EXPECT_THAT(m.mri, Optional(DoubleNear(-0.045, kTol)));
  EXPECT_THAT(m.mean_ood_accuracy, Optional(DoubleNear(0.455, kTol)));
  EXPECT_THAT(m.baseline_ood_accuracy, Optional(DoubleNear(0.5, kTol)));
  EXPECT_THAT(m.mean_pretrain_change, Optional(DoubleNear(-0.35 / 3, kTol)));
  // DESIGN §7's identity holds on a complete matrix.
  EXPECT_NEAR(*m.mean_ood_accuracy, *m.mri + *m.baseline_ood_accuracy, kTol);
}

TEST(ComputeMatrixMetrics, MissingFineTuneCellHidesThatRowAndTheMeans) {
  MatrixInput in = ThreeByThree();
  in.rows[1][3] = std::nullopt;  // ft on d2, evaluated on d3: not done yet
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(in));
  EXPECT_THAT(m.rows[0].ri, Optional(DoubleNear(-0.015, kTol)));
  EXPECT_EQ(m.rows[1].ri, std::nullopt);
  EXPECT_EQ(m.rows[1].ood_accuracy, std::nullopt);
  EXPECT_THAT(m.rows[1].pretrain_change, Optional(DoubleNear(-0.05, kTol)));
  EXPECT_THAT(m.rows[2].ri, Optional(DoubleNear(-0.100, kTol)));
  EXPECT_EQ(m.mri, std::nullopt);
  EXPECT_EQ(m.mean_ood_accuracy, std::nullopt);
  EXPECT_THAT(m.mean_pretrain_change, Optional(DoubleNear(-0.35 / 3, kTol)));
}

TEST(ComputeMatrixMetrics, DiagonalCellAndValAreNotPartOfRi) {
  MatrixInput in = ThreeByThree();
  in.rows[0][1] = std::nullopt;  // the diagonal (d1 on d1) is not used by RI(d1)
  in.rows[0][0] = std::nullopt;  // nor is the pre-training column
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(in));
  EXPECT_THAT(m.rows[0].ri, Optional(DoubleNear(-0.015, kTol)));
  EXPECT_EQ(m.rows[0].pretrain_change, std::nullopt);
  EXPECT_THAT(m.mri, Optional(DoubleNear(-0.045, kTol)));
  EXPECT_EQ(m.mean_pretrain_change, std::nullopt);
}

TEST(ComputeMatrixMetrics, MissingBaselineCellHidesOnlyTheRowsThatNeedIt) {
  MatrixInput in = ThreeByThree();
  in.baseline[2] = std::nullopt;  // A_d2(pre)
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(in));
  EXPECT_EQ(m.rows[0].ri, std::nullopt);
  EXPECT_THAT(m.rows[1].ri, Optional(DoubleNear(-0.020, kTol)));  // j != d2 only
  EXPECT_EQ(m.rows[2].ri, std::nullopt);
  EXPECT_EQ(m.mri, std::nullopt);
  EXPECT_THAT(m.mean_ood_accuracy, Optional(DoubleNear(0.455, kTol)));  // no baseline
  EXPECT_EQ(m.baseline_ood_accuracy, std::nullopt);
}

TEST(ComputeMatrixMetrics, WithoutAPretrainColumnEveryColumnIsDownstream) {
  MatrixInput in;
  in.columns = {"d1", "d2"};
  in.baseline = {0.5, 0.25};
  in.row_datasets = {"d1", "other"};
  in.rows = {{0.9, 0.5}, {0.75, 0.5}};
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(in));
  EXPECT_THAT(m.rows[0].ri, Optional(DoubleNear(0.25, kTol)));  // only d2
  // A row whose dataset is not a column averages over every column.
  EXPECT_THAT(m.rows[1].ri, Optional(DoubleNear((0.25 + 0.25) / 2, kTol)));
  EXPECT_EQ(m.rows[0].pretrain_change, std::nullopt);
  EXPECT_THAT(m.baseline_ood_accuracy, Optional(DoubleNear(0.375, kTol)));
}

TEST(ComputeMatrixMetrics, NoRowsGiveNoMeans) {
  MatrixInput in = ThreeByThree();
  in.rows.clear();
  in.row_datasets.clear();
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(in));
  EXPECT_TRUE(m.rows.empty());
  EXPECT_EQ(m.mri, std::nullopt);
  EXPECT_THAT(m.baseline_ood_accuracy, Optional(DoubleNear(0.5, kTol)));
}

TEST(ComputeMatrixMetrics, RejectsMalformedInput) {
  MatrixInput short_row = ThreeByThree();
  short_row.rows[2].pop_back();
  EXPECT_THAT(
      ComputeMatrixMetrics(short_row),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row 'd3' has 3 cells")));
  MatrixInput out_of_range = ThreeByThree();
  out_of_range.baseline[1] = 1.5;
  EXPECT_THAT(ComputeMatrixMetrics(out_of_range),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside [0, 1]")));
  MatrixInput repeated = ThreeByThree();
  repeated.columns[3] = "d1";
  EXPECT_THAT(ComputeMatrixMetrics(repeated),
              StatusIs(absl::StatusCode::kInvalidArgument));
  MatrixInput names = ThreeByThree();
  names.row_datasets.pop_back();
  EXPECT_THAT(ComputeMatrixMetrics(names), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DatasetAccuracy, WholeDatasetRowWins) {
  EXPECT_THAT(DatasetAccuracy({{"", 7, 10}, {"fog/1", 1, 10}}), ::rib::testing::IsOk());
  EXPECT_DOUBLE_EQ(*DatasetAccuracy({{"", 7, 10}, {"fog/1", 1, 10}}), 0.7);
  // Rows of one subset are summed (shards): 3/5 + 4/5 = 7/10.
  EXPECT_DOUBLE_EQ(*DatasetAccuracy({{"", 3, 5}, {"", 4, 5}}), 0.7);
}

TEST(DatasetAccuracy, ImageNetCIsTheMeanOfSubsetAccuraciesNotPooledCounts) {
  // Subset accuracies .5, .3, .9, .1 → mean .45; pooled counts would give 90/220.
  const std::vector<SubsetCount> rows = {{"gaussian_noise/1", 50, 100},
                                         {"gaussian_noise/2", 30, 100},
                                         {"fog/1", 9, 10},
                                         {"fog/2", 1, 10}};
  RIB_ASSERT_OK_AND_ASSIGN(double acc, DatasetAccuracy(rows));
  EXPECT_NEAR(acc, 0.45, kTol);
  RIB_ASSERT_OK_AND_ASSIGN(auto per_corruption, CorruptionAccuracies(rows));
  EXPECT_THAT(per_corruption, ElementsAre(Pair("fog", DoubleNear(0.5, kTol)),
                                          Pair("gaussian_noise", DoubleNear(0.4, kTol))));
}

// Images that failed to decode are reported beside the accuracy, never counted as
// wrong: 7 correct of 10 scored is 0.7 however many were skipped.
TEST(DatasetAccuracy, SkippedImagesAreNotCountedAsWrong) {
  EXPECT_DOUBLE_EQ(*DatasetAccuracy({{"", 7, 10, /*skipped=*/5}}), 0.7);
  EXPECT_DOUBLE_EQ(*DatasetAccuracy({{"fog/1", 1, 2, 3}, {"fog/2", 3, 4, 0}}), 0.625);
}

TEST(DatasetAccuracy, RejectsBadCounts) {
  EXPECT_THAT(DatasetAccuracy({}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DatasetAccuracy({{"", 11, 10}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("11/10")));
  EXPECT_THAT(
      DatasetAccuracy({{"fog/1", 0, 0}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'fog/1' has no images")));
  EXPECT_THAT(CorruptionAccuracies({{"fog", 1, 2}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not <corruption>/<severity>")));
}

// ---- Standard errors, intervals and seeds (issue 15.9) ----

constexpr double kSeTol = 1e-12;

TEST(BinomialStandardError, IsSqrtPQOverN) {
  RIB_ASSERT_OK_AND_ASSIGN(double se, BinomialStandardError(25, 100));
  EXPECT_NEAR(se, std::sqrt(0.25 * 0.75 / 100), kSeTol);
  RIB_ASSERT_OK_AND_ASSIGN(double all_right, BinomialStandardError(7, 7));
  EXPECT_EQ(all_right, 0.0);
}

TEST(BinomialStandardError, BadCountsAreInvalid) {
  EXPECT_THAT(BinomialStandardError(5, 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("5/0")));
  EXPECT_THAT(BinomialStandardError(6, 5).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("6/5")));
  EXPECT_THAT(BinomialStandardError(-1, 5).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("-1/5")));
}

TEST(NormalInterval95, IsEstimatePlusMinusZTimesSe) {
  Interval i = NormalInterval95({0.10, 0.01});
  EXPECT_NEAR(i.low, 0.10 - 1.959963984540054 * 0.01, kSeTol);
  EXPECT_NEAR(i.high, 0.10 + 1.959963984540054 * 0.01, kSeTol);
}

TEST(DatasetEstimate, WholeDatasetRowGivesItsBinomialSe) {
  RIB_ASSERT_OK_AND_ASSIGN(Estimate e, DatasetEstimate({{"", 30, 40, 0}}));
  EXPECT_NEAR(e.value, 0.75, kSeTol);
  EXPECT_NEAR(e.se, std::sqrt(0.75 * 0.25 / 40), kSeTol);
}

TEST(DatasetEstimate, MeanOfSubsetsGivesTheSeOfTheMean) {
  // fog/1 50/100 (var .0025), fog/2 20/100 (var .0016): mean .35, se sqrt(.0041) / 2.
  RIB_ASSERT_OK_AND_ASSIGN(Estimate e,
                           DatasetEstimate({{"fog/1", 50, 100, 0}, {"fog/2", 20, 100, 0}}));
  EXPECT_NEAR(e.value, 0.35, kSeTol);
  EXPECT_NEAR(e.se, std::sqrt(0.0041) / 2, kSeTol);
  EXPECT_THAT(DatasetEstimate({{"fog/1", 0, 0, 0}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no images")));
}

// ThreeByThree with SEs: baseline .01 .02 .03 .04, every fine-tuned cell .01. By hand:
//   RI(d1) uses d2, d3 with weight 1/2: var = (.01² + .01² + .03² + .04²) / 4 = .000675
//   mRI: six fine-tuned cells of weight 1/6 (var .0006/36); each downstream baseline
//   cell is used by two rows, weight -2/6: var (.02² + .03² + .04²) / 9 = .0029/9
//   mean OOD: .0006/36; the matched baseline .5 with var .0029/9
TEST(ComputeMatrixMetrics, StandardErrorsOfLinearCombinations) {
  MatrixInput in = ThreeByThree();
  in.baseline_se = {0.01, 0.02, 0.03, 0.04};
  in.rows_se.assign(3, std::vector<double>(4, 0.01));
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(in));
  EXPECT_THAT(m.rows[0].ri_se, Optional(DoubleNear(std::sqrt(0.000675), kSeTol)));
  // RI(d3) uses d1, d2: (.01² + .01² + .02² + .03²) / 4.
  EXPECT_THAT(m.rows[2].ri_se, Optional(DoubleNear(std::sqrt(0.0015 / 4), kSeTol)));
  EXPECT_THAT(m.mri_se,
              Optional(DoubleNear(std::sqrt(0.0006 / 36 + 0.0029 / 9), kSeTol)));
  EXPECT_THAT(m.mean_ood_se, Optional(DoubleNear(std::sqrt(0.0006) / 6, kSeTol)));
  EXPECT_THAT(m.pre_mean_ood_accuracy, Optional(DoubleNear(0.5, kSeTol)));
  EXPECT_THAT(m.pre_mean_ood_se, Optional(DoubleNear(std::sqrt(0.0029) / 3, kSeTol)));
  EXPECT_NEAR(*m.mean_ood_accuracy - *m.pre_mean_ood_accuracy, *m.mri, kSeTol);
}

// Held-out evaluation: a cell's own baseline (the pre job on the images it evaluated)
// replaces its column's in RI, the pre-training-set change and their SEs; cells
// without one keep the column's, and the baseline's OOD accuracy stays the column's.
//   d1's cell on d2 has baseline .40 (SE .05) instead of .50:
//   RI(d1) = ((.45-.40) + (.42-.40)) / 2 = .035; d2's val baseline .90: change -.15.
//   SE(RI(d1)) = sqrt((.5·.01)² + (.5·.01)² + (.5·.05)² + (.5·.04)²) = sqrt(.001075).
TEST(ComputeMatrixMetrics, PerCellBaselinesReplaceTheColumnsWhereGiven) {
  MatrixInput in = ThreeByThree();
  in.baseline_se = {0.01, 0.02, 0.03, 0.04};
  in.rows_se.assign(3, std::vector<double>(4, 0.01));
  in.rows_baseline.assign(3, std::vector<Cell>(4, std::nullopt));
  in.rows_baseline_se.assign(3, std::vector<double>(4, 0.0));
  in.rows_baseline[0][2] = 0.40;
  in.rows_baseline_se[0][2] = 0.05;
  in.rows_baseline[1][0] = 0.90;
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(in));
  EXPECT_THAT(m.rows[0].ri, Optional(DoubleNear(0.035, kTol)));
  EXPECT_THAT(m.rows[1].ri, Optional(DoubleNear(-0.020, kTol)));
  EXPECT_THAT(m.rows[0].pretrain_change, Optional(DoubleNear(-0.10, kTol)));
  EXPECT_THAT(m.rows[1].pretrain_change, Optional(DoubleNear(-0.15, kTol)));
  EXPECT_THAT(m.rows[0].ri_se, Optional(DoubleNear(std::sqrt(0.001075), kSeTol)));
  EXPECT_THAT(m.mri, Optional(DoubleNear(-0.085 / 3, kTol)));
  EXPECT_THAT(m.baseline_ood_accuracy, Optional(DoubleNear(0.5, kTol)));
  EXPECT_NEAR(*m.mean_ood_accuracy - *m.pre_mean_ood_accuracy, *m.mri, kTol);
  // Shapes that do not match the rows are refused.
  in.rows_baseline.resize(2);
  EXPECT_THAT(ComputeMatrixMetrics(in).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 rows but 2 rows of per-cell baselines")));
  in.rows_baseline.assign(3, std::vector<Cell>(4, std::nullopt));
  in.rows_baseline_se.clear();
  EXPECT_THAT(ComputeMatrixMetrics(in).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 rows but 0 rows of per-cell baseline standard errors")));
  in.rows_baseline_se.assign(3, std::vector<double>(4, 0.0));
  in.rows_baseline[2] = {0.5, 1.5, std::nullopt, std::nullopt};
  EXPECT_THAT(ComputeMatrixMetrics(in).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("baseline of row 'd3' column 1: accuracy 1.5")));
}

TEST(ComputeMatrixMetrics, NoStandardErrorsWithoutInputSes) {
  RIB_ASSERT_OK_AND_ASSIGN(MatrixMetrics m, ComputeMatrixMetrics(ThreeByThree()));
  EXPECT_EQ(m.rows[0].ri_se, std::nullopt);
  EXPECT_EQ(m.mri_se, std::nullopt);
  EXPECT_THAT(m.pre_mean_ood_accuracy, Optional(DoubleNear(0.5, kSeTol)));
}

TEST(ComputeMatrixMetrics, BadStandardErrorsAreInvalid) {
  MatrixInput in = ThreeByThree();
  in.baseline_se = {0.01, 0.02, 0.03, 0.04};
  in.rows_se.assign(2, std::vector<double>(4, 0.01));
  EXPECT_THAT(ComputeMatrixMetrics(in).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 rows but 2 rows of standard errors")));
  in.rows_se.assign(3, std::vector<double>(4, 0.01));
  in.rows_se[1][2] = -0.1;
  EXPECT_THAT(ComputeMatrixMetrics(in).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("row 'd2' column 2: standard error -0.1 is negative")));
}

// Three seeds .50 .60 .70 with SEs .03 .04 .00: mean .60, sample sd .1,
// SE of the mean sqrt(.0009 + .0016) / 3 = .05 / 3.
TEST(SummarizeSeeds, MeanSampleSdAndTheSeOfTheMean) {
  RIB_ASSERT_OK_AND_ASSIGN(SeedSummary s,
                           SummarizeSeeds({{0.50, 0.03}, {0.60, 0.04}, {0.70, 0.0}}));
  EXPECT_EQ(s.count, 3);
  EXPECT_NEAR(s.mean, 0.60, kSeTol);
  EXPECT_NEAR(s.sd, 0.10, kSeTol);
  EXPECT_NEAR(s.se, 0.05 / 3, kSeTol);
  RIB_ASSERT_OK_AND_ASSIGN(SeedSummary one, SummarizeSeeds({{0.4, 0.01}}));
  EXPECT_EQ(one.sd, 0.0);
  EXPECT_THAT(SummarizeSeeds({}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no seeds")));
}

TEST(SignificantDifference, IsTwiceTheCombinedStandardErrorOfTheSeeds) {
  // sd .1 over 4 seeds each: combined SE sqrt(.01/4 + .01/4) = .0707; 2 SE = .1414.
  const SeedSummary a{0.60, 0.10, 0, 4};
  EXPECT_TRUE(SignificantDifference(a, {0.45, 0.10, 0, 4}));    // |Δ| .15
  EXPECT_FALSE(SignificantDifference(a, {0.47, 0.10, 0, 4}));   // |Δ| .13
  EXPECT_FALSE(SignificantDifference(a, {0.10, 0.0, 0, 1}));    // one seed: no spread
}

// By hand: x = 1..5, y = 2 4 5 4 5. Deviations dx = -2 -1 0 1 2, dy = -2 0 1 0 1:
// Σdxdy = 6, Σdx² = 10, Σdy² = 6, r = 6/√60. Ranks of y (ties at the mean rank):
// 1 2.5 4.5 2.5 4.5, deviations -2 -.5 1.5 -.5 1.5: Σdx·dr = 7, Σdr² = 9, ρ = 7/√90.
// The line: slope 6/10, intercept 4 − 0.6·3 = 2.2.
TEST(CorrelateTest, PearsonAndSpearmanWithTiesMatchHandValues) {
  RIB_ASSERT_OK_AND_ASSIGN(Correlation c, Correlate({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5}));
  EXPECT_NEAR(c.pearson, 6 / std::sqrt(60.0), kTol);
  EXPECT_NEAR(c.spearman, 7 / std::sqrt(90.0), kTol);
  EXPECT_EQ(c.n, 5);
  RIB_ASSERT_OK_AND_ASSIGN(Line line, LeastSquaresLine({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5}));
  EXPECT_NEAR(line.slope, 0.6, kTol);
  EXPECT_NEAR(line.intercept, 2.2, kTol);
}

TEST(CorrelateTest, MonotoneButCurvedIsRankPerfectNotLinear) {
  // y = x³ on 1..4 and a decreasing copy: ρ = ±1 exactly, |r| < 1.
  RIB_ASSERT_OK_AND_ASSIGN(Correlation up, Correlate({1, 2, 3, 4}, {1, 8, 27, 64}));
  EXPECT_NEAR(up.spearman, 1.0, kTol);
  EXPECT_LT(up.pearson, 0.99);
  EXPECT_GT(up.pearson, 0.9);
  RIB_ASSERT_OK_AND_ASSIGN(Correlation down, Correlate({1, 2, 3, 4}, {-1, -8, -27, -64}));
  EXPECT_NEAR(down.spearman, -1.0, kTol);
  EXPECT_NEAR(down.pearson, -up.pearson, kTol);
}

TEST(CorrelateTest, BadInputIsNamed) {
  EXPECT_THAT(Correlate({1, 2, 3}, {1, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("3 x values but 2")));
  EXPECT_THAT(Correlate({1, 2}, {1, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 3 pairs")));
  EXPECT_THAT(Correlate({1, 1, 1}, {1, 2, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x is constant")));
  EXPECT_THAT(Correlate({1, 2, 3}, {4, 4, 4}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("y is constant")));
  EXPECT_THAT(Correlate({1, NAN, 3}, {1, 2, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pair 1 is not finite")));
  EXPECT_THAT(LeastSquaresLine({2, 2}, {1, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x is constant")));
  RIB_ASSERT_OK_AND_ASSIGN(Line flat, LeastSquaresLine({1, 3}, {5, 5}));
  EXPECT_EQ(flat.slope, 0);
  EXPECT_EQ(flat.intercept, 5);
}

}  // namespace
}  // namespace rib
