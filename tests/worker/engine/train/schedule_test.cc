#include "worker/engine/schedule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace rib::engine {
namespace {

using ::rib::testing::StatusIs;

TEST(ScheduleTest, WarmupThenCosineToZero) {
  ScheduleOptions options{/*base_lr=*/0.1, /*warmup_steps=*/10, /*total_steps=*/110,
                          "cosine"};
  ASSERT_TRUE(ValidateSchedule(options).ok());
  EXPECT_DOUBLE_EQ(LearningRateAt(options, 0), 0.01);   // first warm-up step
  EXPECT_DOUBLE_EQ(LearningRateAt(options, 4), 0.05);   // warm-up midway
  EXPECT_DOUBLE_EQ(LearningRateAt(options, 9), 0.1);    // end of warm-up
  EXPECT_DOUBLE_EQ(LearningRateAt(options, 10), 0.1);   // cosine starts at base
  EXPECT_NEAR(LearningRateAt(options, 60), 0.05, 1e-12);  // mid-cosine = base / 2
  EXPECT_NEAR(LearningRateAt(options, 110), 0.0, 1e-12);  // end
  EXPECT_GT(LearningRateAt(options, 109), 0.0);
  EXPECT_LT(LearningRateAt(options, 109), 1e-4);
}

TEST(ScheduleTest, ConstantAndNoWarmup) {
  ScheduleOptions constant{0.5, 0, 10, "constant"};
  EXPECT_DOUBLE_EQ(LearningRateAt(constant, 0), 0.5);
  EXPECT_DOUBLE_EQ(LearningRateAt(constant, 9), 0.5);
  ScheduleOptions cosine{1.0, 0, 4, "cosine"};
  EXPECT_DOUBLE_EQ(LearningRateAt(cosine, 0), 1.0);
  EXPECT_NEAR(LearningRateAt(cosine, 2), 0.5, 1e-12);
}

TEST(ScheduleTest, WarmupLongerThanRunIsClamped) {
  ScheduleOptions options{1.0, 196, 4, "cosine"};
  EXPECT_DOUBLE_EQ(LearningRateAt(options, 0), 0.25);
  EXPECT_DOUBLE_EQ(LearningRateAt(options, 3), 1.0);
}

TEST(ScheduleTest, RejectsBadOptions) {
  EXPECT_THAT(ValidateSchedule({0.1, 0, 10, "step"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateSchedule({0.1, 0, 0, "cosine"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateSchedule({-1, 0, 10, "cosine"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib::engine
