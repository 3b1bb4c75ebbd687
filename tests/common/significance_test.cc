#include "common/significance.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::StatusIs;
using ::testing::DoubleNear;
using ::testing::HasSubstr;

// The continued fraction converges to ~1e-14 here; 1e-10 leaves room for libm's lgamma.
constexpr double kTol = 1e-10;

TEST(StudentTTwoSidedPTest, MatchesTheClosedFormsForOneAndTwoDegreesOfFreedom) {
  const double pi = std::acos(-1.0);
  for (double t : {0.0, 0.3, 1.0, 2.5, -4.0, 40.0}) {
    // df 1 is the Cauchy: P(|T| >= t) = 1 − (2/π) atan|t|.
    EXPECT_THAT(*StudentTTwoSidedP(t, 1), DoubleNear(1 - 2 / pi * std::atan(std::fabs(t)), kTol))
        << t;
    // df 2: P(|T| >= t) = 1 − |t| / sqrt(2 + t²).
    EXPECT_THAT(*StudentTTwoSidedP(t, 2),
                DoubleNear(1 - std::fabs(t) / std::sqrt(2 + t * t), kTol))
        << t;
  }
}

TEST(StudentTTwoSidedPTest, MatchesTablesAndMpmath) {
  // The textbook critical value t_{0.975, 7} = 2.364624252 has p = 0.05.
  EXPECT_THAT(*StudentTTwoSidedP(2.364624252, 7), DoubleNear(0.05, 1e-9));
  // mpmath.betainc(df/2, 1/2, 0, df/(df+t²), regularized=True):
  EXPECT_THAT(*StudentTTwoSidedP(0.5, 30), DoubleNear(0.620723004885128, kTol));
  EXPECT_THAT(*StudentTTwoSidedP(12.0, 3), DoubleNear(0.00124501580078934, kTol));
  EXPECT_THAT(*StudentTTwoSidedP(-1.3, 10), DoubleNear(0.222765817206845, kTol));
  EXPECT_EQ(*StudentTTwoSidedP(std::numeric_limits<double>::infinity(), 5), 0.0);
}

TEST(StudentTTwoSidedPTest, RefusesBadInput) {
  EXPECT_THAT(StudentTTwoSidedP(1.0, 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("degrees of freedom")));
  EXPECT_THAT(StudentTTwoSidedP(std::nan(""), 3).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NaN")));
}

TEST(PairedTTestTest, EightDifferencesAsComputedByHandAndMpmath) {
  // mean −1.8875, sample sd 1.48558..., se 0.525234, t −3.59364, df 7 (Python's
  // statistics.stdev and mpmath's betainc give p 0.00881426).
  absl::StatusOr<PairedTest> test = PairedTTest({-3.1, -1.2, -4.0, 0.5, -2.2, -1.8, -0.4, -2.9});
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->n, 8);
  EXPECT_EQ(test->df, 7);
  EXPECT_THAT(test->mean, DoubleNear(-1.8875, 1e-12));
  EXPECT_THAT(test->se, DoubleNear(0.5252337914817417, 1e-12));
  EXPECT_THAT(test->t, DoubleNear(-3.59363778685137, 1e-10));
  EXPECT_THAT(test->p, DoubleNear(0.00881426298686269, kTol));
  EXPECT_TRUE(test->significant());
}

TEST(PairedTTestTest, ANoisyDifferenceIsNotSignificant) {
  // 1..5 shifted to mean 0.5: t = 0.5 / (sqrt(2.5) / sqrt(5)) = 0.7071, df 4.
  absl::StatusOr<PairedTest> test = PairedTTest({-1.5, -0.5, 0.5, 1.5, 2.5});
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(test->t, DoubleNear(0.5 / std::sqrt(0.5), 1e-12));
  EXPECT_GT(test->p, kSignificanceAlpha);
  EXPECT_FALSE(test->significant());
}

TEST(PairedTTestTest, ConstantDifferences) {
  // Their mean is not exactly −0.7 in binary, so the raw SE is ~1e-17, not 0; equal
  // differences up to rounding still have no spread.
  absl::StatusOr<PairedTest> shifted = PairedTTest({-0.7, -0.7, -0.7});
  ASSERT_TRUE(shifted.ok());
  EXPECT_EQ(shifted->se, 0.0);
  EXPECT_EQ(shifted->t, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(shifted->p, 0.0);
  absl::StatusOr<PairedTest> zero = PairedTTest({0.0, 0.0});
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->p, 1.0);
  EXPECT_FALSE(zero->significant());
  // A real spread, however small against the differences' size, is kept.
  absl::StatusOr<PairedTest> tiny = PairedTTest({1.0, 1.0 + 1e-6});
  ASSERT_TRUE(tiny.ok());
  EXPECT_GT(tiny->se, 0.0);
  EXPECT_TRUE(std::isfinite(tiny->t));
}

TEST(PairedTTestTest, RefusesTooFewOrNonFiniteDifferences) {
  EXPECT_THAT(PairedTTest({1.0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 pairs (need at least 2)")));
  EXPECT_THAT(PairedTTest({1.0, std::nan("")}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("difference 1 is not finite")));
}

}  // namespace
}  // namespace rib
