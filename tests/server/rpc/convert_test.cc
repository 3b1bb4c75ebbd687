// The worker API's failure report as the coordinator reads it: the status code the
// retry policy decides on, and what a worker that predates the code field means.
#include "server/rpc/convert.h"

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::rpc {
namespace {

using ::rib::testing::StatusIs;

v1::JobEvent Failed(int code, bool retryable, bool released = false) {
  v1::JobEvent e;
  e.set_job_id("j");
  e.set_attempt(2);
  v1::JobFinished* f = e.mutable_finished();
  f->set_ok(false);
  f->set_error("boom");
  f->set_code(code);
  f->set_retryable(retryable);
  f->set_released(released);
  return e;
}

TEST(ConvertTest, AFailureCarriesItsStatusCode) {
  RIB_ASSERT_OK_AND_ASSIGN(domain::JobReport r,
                           FromProto(Failed(static_cast<int>(absl::StatusCode::kInternal),
                                            /*retryable=*/true)));
  EXPECT_EQ(r.kind, domain::JobReport::Kind::kFinished);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "boom");
  EXPECT_EQ(r.code, absl::StatusCode::kInternal);  // the code wins over the old flag
  EXPECT_FALSE(r.released);
  RIB_ASSERT_OK_AND_ASSIGN(
      r, FromProto(Failed(static_cast<int>(absl::StatusCode::kUnknown), false,
                          /*released=*/true)));
  EXPECT_TRUE(r.released);
}

TEST(ConvertTest, AWorkerWithoutCodesIsReadByItsRetryableFlag) {
  RIB_ASSERT_OK_AND_ASSIGN(domain::JobReport r, FromProto(Failed(0, true)));
  EXPECT_EQ(r.code, absl::StatusCode::kUnavailable);
  RIB_ASSERT_OK_AND_ASSIGN(r, FromProto(Failed(0, false)));
  EXPECT_EQ(r.code, absl::StatusCode::kUnknown);
}

TEST(ConvertTest, ACodeOutOfRangeIsInvalid) {
  EXPECT_THAT(FromProto(Failed(17, false)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("17")));
  EXPECT_THAT(FromProto(Failed(-1, false)), StatusIs(absl::StatusCode::kInvalidArgument));
}

// The matrix's uncertainty reaches the API: each cell's SE, RI's and mRI's SE and
// interval, the mean OOD SEs and the pre-trained "before" value.
TEST(ConvertTest, MatrixCarriesItsStandardErrorsAndIntervals) {
  domain::Matrix m;
  m.baseline.cells.push_back({true, 0.5, 50, 100, 0, 0.05});
  domain::MatrixRow row;
  row.cells.push_back({true, 0.6, 60, 100, 0, 0.049});
  row.ri = 0.1;
  row.ri_se = 0.07;
  row.ri_ci = Interval{-0.04, 0.24};
  row.ri_bootstrap_ci = Interval{-0.02, 0.21};
  m.rows.push_back(row);
  m.mri = 0.1;
  m.mri_se = 0.07;
  m.mri_ci = Interval{-0.04, 0.24};
  m.mean_ood = 0.6;
  m.mean_ood_se = 0.049;
  m.pre_mean_ood = 0.5;
  m.pre_mean_ood_se = 0.05;
  v1::Matrix out;
  ToProto(m, &out);
  EXPECT_DOUBLE_EQ(out.baseline().cells(0).se(), 0.05);
  EXPECT_DOUBLE_EQ(out.rows(0).cells(0).se(), 0.049);
  EXPECT_DOUBLE_EQ(out.rows(0).ri_se(), 0.07);
  EXPECT_DOUBLE_EQ(out.rows(0).ri_ci_low(), -0.04);
  EXPECT_DOUBLE_EQ(out.rows(0).ri_ci_high(), 0.24);
  EXPECT_DOUBLE_EQ(out.mri_se(), 0.07);
  EXPECT_DOUBLE_EQ(out.mri_ci_low(), -0.04);
  EXPECT_DOUBLE_EQ(out.mri_ci_high(), 0.24);
  EXPECT_DOUBLE_EQ(out.mean_ood_se(), 0.049);
  EXPECT_TRUE(out.has_pre_mean_ood());
  EXPECT_DOUBLE_EQ(out.pre_mean_ood(), 0.5);
  EXPECT_DOUBLE_EQ(out.pre_mean_ood_se(), 0.05);
  EXPECT_EQ(out.seeds_size(), 0);
  // The bootstrap interval where there is one (the row), none where not (mRI).
  EXPECT_TRUE(out.rows(0).has_ri_bootstrap());
  EXPECT_DOUBLE_EQ(out.rows(0).ri_bootstrap_low(), -0.02);
  EXPECT_DOUBLE_EQ(out.rows(0).ri_bootstrap_high(), 0.21);
  EXPECT_FALSE(out.has_mri_bootstrap());

  // With seeds: the seeds and the sds over them.
  m.seeds = {0, 1, 2};
  m.rows[0].cells[0].seed_sd = 0.01;
  m.rows[0].ri_seed_sd = 0.02;
  m.mri_seed_sd = 0.03;
  m.mean_ood_seed_sd = 0.04;
  m.pre_mean_ood_seed_sd = 0.05;
  v1::Matrix seeded;
  ToProto(m, &seeded);
  EXPECT_THAT(seeded.seeds(), ::testing::ElementsAre(0, 1, 2));
  EXPECT_DOUBLE_EQ(seeded.rows(0).cells(0).seed_sd(), 0.01);
  EXPECT_DOUBLE_EQ(seeded.rows(0).ri_seed_sd(), 0.02);
  EXPECT_DOUBLE_EQ(seeded.mri_seed_sd(), 0.03);
  EXPECT_DOUBLE_EQ(seeded.mean_ood_seed_sd(), 0.04);
  EXPECT_DOUBLE_EQ(seeded.pre_mean_ood_seed_sd(), 0.05);

  m.pre_mean_ood.reset();
  v1::Matrix without;
  ToProto(m, &without);
  EXPECT_FALSE(without.has_pre_mean_ood());
}

}  // namespace
}  // namespace rib::rpc
