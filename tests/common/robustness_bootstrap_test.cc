// BootstrapRiIntervals: cases with known answers (a zero-width interval where every
// resample gives the same RI; the normal approximation where it is accurate), paired
// resampling, the baseline restricted to a cell's held-out images, reproducibility, and
// the errors.
#include "common/robustness_bootstrap.h"

#include <cmath>
#include <functional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

// Packs bit k = pred(k) for k < n, least significant bit first.
std::string Pack(int64_t n, const std::function<bool(int64_t)>& pred) {
  std::string out(static_cast<size_t>((n + 7) / 8), '\0');
  for (int64_t k = 0; k < n; ++k)
    if (pred(k)) out[k >> 3] = static_cast<char>(out[k >> 3] | (1 << (k & 7)));
  return out;
}

// Columns {val, a, b}, one row fine-tuned on a: RI(a) = A_b(ft_a) - A_b(pre).
BootstrapInput OneRow(int64_t n, const std::function<bool(int64_t)>& before,
                      const std::function<bool(int64_t)>& after,
                      std::string evaluated = "") {
  BootstrapInput in;
  in.columns = {"val", "a", "b"};
  in.pretrain_column = "val";
  in.row_datasets = {"a"};
  const CellBits none;
  in.baseline = {none, none, {ImageBits{n, Pack(n, before), ""}}};
  in.rows = {{none, none, {ImageBits{n, Pack(n, after), std::move(evaluated)}}}};
  return in;
}

TEST(BootstrapTest, EveryResampleTheSameGivesAZeroWidthInterval) {
  // All right after, all wrong before: RI = 1 in every resample.
  auto all = BootstrapRiIntervals(OneRow(
      500, [](int64_t) { return false; }, [](int64_t) { return true; }));
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_TRUE(all->ri[0].has_value());
  EXPECT_EQ(all->ri[0]->low, 1.0);
  EXPECT_EQ(all->ri[0]->high, 1.0);
  ASSERT_TRUE(all->mri.has_value());
  EXPECT_EQ(all->mri->low, 1.0);
  // The same images right before and after, half of them: accuracy varies between
  // resamples, the paired difference never does. (Unpaired resamples would give an
  // interval about ±0.06 wide here.)
  auto same = [](int64_t k) { return k % 2 == 0; };
  auto paired = BootstrapRiIntervals(OneRow(500, same, same));
  ASSERT_TRUE(paired.ok()) << paired.status();
  EXPECT_EQ(paired->ri[0]->low, 0.0);
  EXPECT_EQ(paired->ri[0]->high, 0.0);
}

TEST(BootstrapTest, MatchesTheNormalApproximationOnALargeBinomialCell) {
  // 4,000 images, 30% right after, none before: RI = 0.3 with SE sqrt(.3 * .7 / 4000)
  // = 0.00725, so the normal interval is 0.3 ± 0.0142. A percentile bootstrap of a
  // binomial proportion this far from 0 and 1 agrees with it to well within the Monte
  // Carlo error of 1,000 replicates (about 5% of the half-width); allow 15%.
  const int64_t n = 4000;
  auto r = BootstrapRiIntervals(OneRow(
      n, [](int64_t) { return false; }, [](int64_t k) { return k % 10 < 3; }));
  ASSERT_TRUE(r.ok()) << r.status();
  const double se = std::sqrt(0.3 * 0.7 / n);
  const double half = kZ95 * se;
  ASSERT_TRUE(r->ri[0].has_value());
  EXPECT_NEAR(r->ri[0]->low, 0.3 - half, 0.15 * half);
  EXPECT_NEAR(r->ri[0]->high, 0.3 + half, 0.15 * half);
  // One row: mRI is RI.
  EXPECT_EQ(r->mri->low, r->ri[0]->low);
  EXPECT_EQ(r->mri->high, r->ri[0]->high);
  // Reproducible: the same seed draws the same interval, another seed another.
  auto again = BootstrapRiIntervals(OneRow(
      n, [](int64_t) { return false; }, [](int64_t k) { return k % 10 < 3; }));
  EXPECT_EQ(again->ri[0]->low, r->ri[0]->low);
  BootstrapInput other = OneRow(
      n, [](int64_t) { return false; }, [](int64_t k) { return k % 10 < 3; });
  other.seed = 1;
  auto reseeded = BootstrapRiIntervals(other);
  EXPECT_NE(reseeded->ri[0]->low, r->ri[0]->low);
}

TEST(BootstrapTest, TheBaselineIsScoredOnTheCellsOwnImages) {
  // The pre-trained model is right on the first half only; the fine-tuned one was
  // evaluated on the second half (its held-out set) and is right on all of it. Before
  // is 0 on those images, so RI = 1 exactly; comparing against the baseline's accuracy
  // on all images (0.5) would give 0.5.
  const int64_t n = 400;
  auto r = BootstrapRiIntervals(OneRow(
      n, [](int64_t k) { return k < 200; }, [](int64_t) { return true; },
      Pack(n, [](int64_t k) { return k >= 200; })));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ri[0]->low, 1.0);
  EXPECT_EQ(r->ri[0]->high, 1.0);
}

TEST(BootstrapTest, MissingCellsLeaveRowsWithoutIntervals) {
  BootstrapInput in = OneRow(
      10, [](int64_t) { return false; }, [](int64_t) { return true; });
  in.row_datasets.push_back("b");
  in.rows.push_back({{}, {}, {}});  // row b needs column a, which it lacks
  auto r = BootstrapRiIntervals(in);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ri[0].has_value());
  EXPECT_FALSE(r->ri[1].has_value());
  EXPECT_FALSE(r->mri.has_value());
}

TEST(BootstrapTest, BadShapesAreNamed) {
  BootstrapInput in = OneRow(
      10, [](int64_t) { return false; }, [](int64_t) { return true; });
  in.rows[0][2][0].correct = "x";  // 1 byte for 10 images
  EXPECT_THAT(BootstrapRiIntervals(in).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("10 images")));
  in = OneRow(
      10, [](int64_t) { return false; }, [](int64_t) { return true; });
  in.baseline[2][0].evaluated = Pack(10, [](int64_t k) { return k > 0; });
  EXPECT_THAT(
      BootstrapRiIntervals(in).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("image 0 was evaluated by the row but not the baseline")));
  in = OneRow(
      10, [](int64_t) { return false; }, [](int64_t) { return true; });
  in.replicates = 0;
  EXPECT_THAT(BootstrapRiIntervals(in).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("replicates")));
}

TEST(BootstrapTest, CountBitsIsThePopcountUnderTheMask) {
  const std::string bits = Pack(13, [](int64_t k) { return k % 3 == 0; });  // 0,3,6,9,12
  EXPECT_EQ(*CountBits(bits, "", 13), 5);
  EXPECT_EQ(*CountBits(bits, Pack(13, [](int64_t k) { return k < 7; }), 13), 3);
  EXPECT_THAT(CountBits(bits, "", 20).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib
