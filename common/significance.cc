#include "common/significance.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rib {
namespace {

// A standard error this small relative to the differences is float rounding, not spread.
constexpr double kRoundingSpread = 1e-9;

// The continued fraction of the incomplete beta function (modified Lentz), valid for
// x < (a + 1) / (a + b + 2); the caller uses the symmetry I_x(a, b) = 1 − I_{1−x}(b, a)
// otherwise.
double BetaContinuedFraction(double a, double b, double x) {
  constexpr int kMaxIterations = 300;
  constexpr double kEpsilon = 1e-15;
  constexpr double kTiny = 1e-300;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return h;
}

// I_x(a, b) for x in [0, 1], a, b > 0.
double RegularizedIncompleteBeta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                           a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * BetaContinuedFraction(a, b, x) / a;
  return 1.0 - front * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

}  // namespace

absl::StatusOr<double> StudentTTwoSidedP(double t, int df) {
  if (df < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Student's t: ", df, " degrees of freedom (need at least 1)"));
  }
  if (std::isnan(t)) return absl::InvalidArgumentError("Student's t: t is NaN");
  if (std::isinf(t)) return 0.0;
  const double nu = static_cast<double>(df);
  return RegularizedIncompleteBeta(nu / 2.0, 0.5, nu / (nu + t * t));
}

absl::StatusOr<PairedTest> PairedTTest(const std::vector<double>& differences) {
  if (differences.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "paired t test: ", differences.size(), " pairs (need at least 2)"));
  }
  PairedTest out;
  out.n = static_cast<int>(differences.size());
  out.df = out.n - 1;
  double sum = 0;
  for (size_t i = 0; i < differences.size(); ++i) {
    if (!std::isfinite(differences[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("paired t test: difference ", i, " is not finite"));
    }
    sum += differences[i];
  }
  out.mean = sum / out.n;
  double squares = 0;
  for (double d : differences) squares += (d - out.mean) * (d - out.mean);
  out.se = std::sqrt(squares / out.df / out.n);
  // Differences equal but for float rounding (RIs are means of differences of
  // accuracies, so "equal" ones differ in the last bits) have no spread: without this,
  // t would be ~1e15 and its p a rounding artefact.
  double largest = 0;
  for (double d : differences) largest = std::max(largest, std::fabs(d));
  if (out.se <= kRoundingSpread * largest) out.se = 0.0;
  if (out.se == 0.0) {
    if (out.mean == 0.0) {
      out.t = 0.0;
      out.p = 1.0;
    } else {
      out.t = std::copysign(std::numeric_limits<double>::infinity(), out.mean);
      out.p = 0.0;
    }
    return out;
  }
  out.t = out.mean / out.se;
  absl::StatusOr<double> p = StudentTTwoSidedP(out.t, out.df);
  if (!p.ok()) return p.status();
  out.p = *p;
  return out;
}

}  // namespace rib
