// OTDD (worker/engine/otdd.h) against values known in closed form. Tolerances: the
// Bures tests are exact linear algebra in double (1e-9); the dataset distances are
// Sinkhorn runs in double of 2000 iterations at ε: the symmetric problems converge,
// the cross problem's alternating updates do not quite at ε = 0.1 (near-permutation
// plans), its value is within 3e-5 of the fixed point (measured by a numpy mirror),
// asserted at 1e-4; the float run uses the job's defaults (100 iterations) and a float
// cost matrix, asserted at 1e-3 relative.
#include "worker/engine/otdd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "tests/testing/status_matchers.h"

namespace rib::engine {
namespace {

using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

torch::Tensor Diag(std::vector<double> v) {
  return torch::diag(torch::tensor(v, torch::kDouble));
}

// A random rotation of R^d (QR of a seeded Gaussian matrix).
torch::Tensor Rotation(int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  return std::get<0>(torch::linalg_qr(torch::randn({d, d}, torch::kDouble)));
}

TEST(OtddBures, DiagonalCovariancesMatchTheClosedForm) {
  // Diagonal (commuting) covariances: Bures² = Σ (√a_i − √b_i)².
  const std::vector<double> a = {4, 1, 0.25}, b = {1, 9, 0.25};
  double expected = 0;
  for (size_t i = 0; i < a.size(); ++i)
    expected += std::pow(std::sqrt(a[i]) - std::sqrt(b[i]), 2);  // 1 + 4 + 0
  EXPECT_NEAR(BuresSquared(CovarianceFactor(Diag(a)), CovarianceFactor(Diag(b))),
              expected, 1e-9);
  EXPECT_NEAR(expected, 5.0, 1e-12);
}

TEST(OtddBures, CommutingRotatedCovariancesMatchTheClosedForm) {
  // Σa = Q diag(a) Qᵀ and Σb = Q diag(b) Qᵀ commute: the same Σ (√a − √b)².
  torch::Tensor q = Rotation(3, 7);
  torch::Tensor sa = torch::mm(torch::mm(q, Diag({4, 1, 0.25})), q.t());
  torch::Tensor sb = torch::mm(torch::mm(q, Diag({1, 9, 0.25})), q.t());
  EXPECT_NEAR(BuresSquared(CovarianceFactor(sa), CovarianceFactor(sb)), 5.0, 1e-9);
}

TEST(OtddBures, NonCommuting2x2MatchesTheClosedForm) {
  // For a 2×2 PSD M, tr √M = √(tr M + 2√det M); with M = Σa^½ Σb Σa^½,
  // tr M = tr(Σa Σb) and det M = det Σa det Σb.
  torch::Tensor sa = torch::tensor({{2.0, 0.5}, {0.5, 1.0}}, torch::kDouble);
  torch::Tensor sb = torch::tensor({{1.0, -0.3}, {-0.3, 3.0}}, torch::kDouble);
  const double tr_ab = torch::mm(sa, sb).trace().item<double>();
  const double det = torch::det(sa).item<double>() * torch::det(sb).item<double>();
  const double expected = sa.trace().item<double>() + sb.trace().item<double>() -
                          2 * std::sqrt(tr_ab + 2 * std::sqrt(det));
  EXPECT_NEAR(BuresSquared(CovarianceFactor(sa), CovarianceFactor(sb)), expected, 1e-9);
  EXPECT_GT(expected, 0.1);  // the matrices really differ
}

TEST(OtddGaussians, ExampleFactorAndEigenFactorAgree) {
  // A class with fewer examples than dimensions keeps its centred examples as the
  // factor; its Bures² to another class equals the one from Σ's eigendecomposition.
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({4, 6}, torch::kDouble);
  torch::Tensor y = torch::randn({30, 6}, torch::kDouble) * 2 + 1;
  LabeledFeatures data{torch::cat({x, y}),
                       torch::cat({torch::full({4}, 5, torch::kLong),
                                   torch::full({30}, 9, torch::kLong)})};
  RIB_ASSERT_OK_AND_ASSIGN(ClassGaussians g, FitClassGaussians(data, 2));
  ASSERT_EQ(g.labels, (std::vector<int64_t>{5, 9}));
  EXPECT_EQ(g.factors[0].size(1), 4);  // the examples
  EXPECT_EQ(g.factors[1].size(1), 6);  // V Λ^½
  // The eigen factor of the rank-3 Σ of 4 examples takes √ of rounding-level
  // eigenvalues (~1e-16 → 1e-8), so the two agree to ~1e-7, asserted at 1e-6.
  torch::Tensor cx = torch::cov(x.t()), cy = torch::cov(y.t());  // unbiased, as otdd
  const double by_eigen = BuresSquared(CovarianceFactor(cx), CovarianceFactor(cy));
  EXPECT_NEAR(BuresSquared(g.factors[0], g.factors[1]), by_eigen, 1e-6);
  torch::Tensor w = LabelDistances(g, g);
  const double means = (x.mean(0) - y.mean(0)).pow(2).sum().item<double>();
  EXPECT_NEAR(w[0][1].item<double>(), means + by_eigen, 1e-6);
  EXPECT_NEAR(w[1][0].item<double>(), means + by_eigen, 1e-6);
  EXPECT_NEAR(w[0][0].item<double>(), 0, 1e-6);
}

// Three Gaussian classes in R^4, 40 examples each, labels 0, 1, 2.
LabeledFeatures ToySet(uint64_t seed, torch::ScalarType dtype = torch::kDouble) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> xs, ys;
  for (int64_t c = 0; c < 3; ++c) {
    torch::Tensor mean = torch::randn({4}, torch::kDouble) * 3;
    torch::Tensor scale = torch::randn({4, 4}, torch::kDouble) * 0.5;
    xs.push_back(mean + torch::mm(torch::randn({40, 4}, torch::kDouble), scale));
    ys.push_back(torch::full({40}, c, torch::kLong));
  }
  return {torch::cat(xs).to(dtype), torch::cat(ys)};
}

OtddOptions Tight(double epsilon = 0.1) {
  OtddOptions o;
  o.epsilon = epsilon;
  o.tolerance = 1e-9;
  o.max_iterations = 2000;
  return o;
}

TEST(OtddDistance, IdenticalSetsAreAtZero) {
  LabeledFeatures a = ToySet(11);
  RIB_ASSERT_OK_AND_ASSIGN(OtddResult r, DatasetDistance(a, a, Tight()));
  EXPECT_NEAR(r.distance, 0, 1e-4);
  EXPECT_EQ(r.examples_a, 120);
  EXPECT_EQ(r.classes_b, 3);
}

TEST(OtddDistance, TranslationOfEveryClassCostsItsSquaredLength) {
  // B = A + t (means move by t, covariances stay): for the cost ½(‖x−x'‖² + W2²) every
  // coupling of A with B costs that of the same coupling of A with A plus ½‖t‖² from
  // the features and ½‖t‖² from the means (the cross terms average to 0 over a coupling
  // of A with itself), and the entropy is unchanged, so S_ε = ‖t‖² at every ε.
  LabeledFeatures a = ToySet(12);
  torch::Tensor t = torch::tensor({1.5, -2.0, 0.5, 1.0}, torch::kDouble);  // ‖t‖² = 7.5
  LabeledFeatures b{a.features + t, a.labels};
  for (double eps : {0.1, 1.0}) {
    RIB_ASSERT_OK_AND_ASSIGN(OtddResult r, DatasetDistance(a, b, Tight(eps)));
    EXPECT_NEAR(r.distance, 7.5, 1e-4) << "epsilon " << eps;
  }
}

TEST(OtddDistance, RenamedLabelsChangeNothing) {
  // Labels are names: B's classes relabelled (0,1,2 → 12,10,11) are the same dataset.
  LabeledFeatures a = ToySet(13);
  torch::Tensor renamed = torch::tensor({12, 10, 11}, torch::kLong).index({a.labels});
  RIB_ASSERT_OK_AND_ASSIGN(OtddResult r,
                       DatasetDistance(a, {a.features, renamed}, Tight()));
  EXPECT_NEAR(r.distance, 0, 1e-4);
}

TEST(OtddDistance, IsSymmetricAndPositiveBetweenDifferentSets) {
  LabeledFeatures a = ToySet(14), b = ToySet(15);
  RIB_ASSERT_OK_AND_ASSIGN(OtddResult ab, DatasetDistance(a, b, Tight()));
  RIB_ASSERT_OK_AND_ASSIGN(OtddResult ba, DatasetDistance(b, a, Tight()));
  EXPECT_GT(ab.distance, 1.0);
  EXPECT_NEAR(ab.distance, ba.distance, 1e-4);
}

TEST(OtddDistance, FloatFeaturesKeepTheTranslationValue) {
  LabeledFeatures a = ToySet(16, torch::kFloat);
  torch::Tensor t = torch::tensor({1.0, 1.0, -1.0, 2.0}, torch::kFloat);  // ‖t‖² = 7
  OtddOptions o;  // the defaults a job uses
  RIB_ASSERT_OK_AND_ASSIGN(OtddResult r, DatasetDistance(a, {a.features + t, a.labels}, o));
  EXPECT_NEAR(r.distance, 7.0, 7e-3);
}

TEST(OtddDistance, SmallClassesAreDroppedWithTheirExamples) {
  LabeledFeatures a = ToySet(17);
  // One extra example of a class of its own: dropped (min_class_count 2).
  LabeledFeatures with_single{
      torch::cat({a.features, torch::full({1, 4}, 100.0, torch::kDouble)}),
      torch::cat({a.labels, torch::full({1}, 7, torch::kLong)})};
  RIB_ASSERT_OK_AND_ASSIGN(OtddResult r, DatasetDistance(a, with_single, Tight()));
  EXPECT_EQ(r.examples_b, 120);
  EXPECT_EQ(r.classes_b, 3);
  EXPECT_NEAR(r.distance, 0, 1e-4);
}

TEST(OtddDistance, BadInputIsNamed) {
  LabeledFeatures a = ToySet(18);
  LabeledFeatures narrow{a.features.slice(1, 0, 3), a.labels};
  EXPECT_THAT(DatasetDistance(a, narrow, OtddOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("differ in width")));
  LabeledFeatures short_labels{a.features, a.labels.slice(0, 0, 10)};
  EXPECT_THAT(DatasetDistance(a, short_labels, OtddOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("labels of another shape")));
  torch::Tensor nan = a.features.clone();
  nan[5][1] = std::nan("");
  EXPECT_THAT(DatasetDistance(a, {nan, a.labels}, OtddOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-finite")));
  LabeledFeatures singles{a.features.slice(0, 0, 3), torch::arange(3, torch::kLong)};
  EXPECT_THAT(DatasetDistance(a, singles, OtddOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no class has 2 or more")));
  OtddOptions zero;
  zero.epsilon = 0;
  EXPECT_THAT(DatasetDistance(a, a, zero),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("epsilon > 0")));
}

}  // namespace
}  // namespace rib::engine
