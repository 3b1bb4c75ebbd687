#include "common/status_macros.h"

#include <string>

#include "absl/strings/cord.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  RIB_ASSIGN_OR_RETURN(int h, Half(x));
  RIB_ASSIGN_OR_RETURN(h, Half(h));
  return h;
}

absl::Status CheckEven(int x) {
  RIB_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacros, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_THAT(Quarter(6), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd: 3")));
  EXPECT_THAT(CheckEven(4), IsOk());
  EXPECT_THAT(CheckEven(5), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StatusMacros, AnnotatePrefixesContextAndKeepsCode) {
  absl::Status s = Annotate(absl::NotFoundError("no file"), "job 7");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound, "job 7: no file"));
  EXPECT_THAT(Annotate(absl::OkStatus(), "x"), IsOk());
}

TEST(StatusMacros, AnnotateKeepsEveryPayload) {
  absl::Status original = absl::UnavailableError("rank 2 gone");
  original.SetPayload("type.rib/rank", absl::Cord("2"));
  original.SetPayload("type.rib/step", absl::Cord("evaluate"));

  absl::Status s = Annotate(original, "job 7");

  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, "job 7: rank 2 gone"));
  ASSERT_TRUE(s.GetPayload("type.rib/rank").has_value());
  EXPECT_EQ(std::string(*s.GetPayload("type.rib/rank")), "2");
  ASSERT_TRUE(s.GetPayload("type.rib/step").has_value());
  EXPECT_EQ(std::string(*s.GetPayload("type.rib/step")), "evaluate");
  // Annotating twice nests the prefixes and still keeps the payloads.
  absl::Status twice = Annotate(s, "sweep 3");
  EXPECT_EQ(twice.message(), "sweep 3: job 7: rank 2 gone");
  EXPECT_EQ(std::string(*twice.GetPayload("type.rib/rank")), "2");
}

}  // namespace
}  // namespace rib
