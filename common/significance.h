// Significance of a paired comparison: the test the report's "Findings" use to say
// whether one model (or method) keeps more robustness than another over the same
// fine-tune datasets. Pure functions of plain values; thread-compatible.
//
// Why a paired t test over the fine-tune datasets and not a z test on the binomial SEs:
// the claims are about fine-tuning in general, so the unit of replication is the
// fine-tune dataset; the binomial SEs (robustness.h) measure only the test images'
// sampling noise and would call a one-dataset fluke significant.
#ifndef RIB_COMMON_SIGNIFICANCE_H_
#define RIB_COMMON_SIGNIFICANCE_H_

#include <vector>

#include "absl/status/statusor.h"

namespace rib {

// The level every "significant" in rib's reports is judged at (two-sided).
inline constexpr double kSignificanceAlpha = 0.05;

// The two-sided p value of Student's t distribution with `df` degrees of freedom:
// P(|T| >= |t|) = I_{df / (df + t²)}(df / 2, 1 / 2), the regularised incomplete beta
// function (a continued fraction, accurate to ~1e-12). ±infinity gives 0.
// INVALID_ARGUMENT for df < 1 or a NaN t.
absl::StatusOr<double> StudentTTwoSidedP(double t, int df);

struct PairedTest {
  int n = 0;             // pairs
  double mean = 0;       // mean difference
  double se = 0;         // sd / sqrt(n), the sample sd with n − 1
  double t = 0;          // mean / se (±infinity when se is 0 and mean is not)
  int df = 0;            // n − 1
  double p = 1;          // two-sided
  bool significant() const { return p < kSignificanceAlpha; }
};

// The paired t test of H0 "the mean difference is 0" on the differences d_i = a_i − b_i
// of n pairs. Differences equal up to float rounding (an SE below 1e-9 of the largest
// |d_i|) have no spread: t = ±infinity and p = 0, or for zero differences t = 0 and
// p = 1. INVALID_ARGUMENT for fewer than 2 differences or a
// non-finite one.
absl::StatusOr<PairedTest> PairedTTest(const std::vector<double>& differences);

}  // namespace rib

#endif  // RIB_COMMON_SIGNIFICANCE_H_
