#include "common/paths.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ValidateName, AcceptsDatasetKeysAndRejectsTraversal) {
  EXPECT_THAT(ValidateName("imagenet-c", "dataset"), IsOk());
  EXPECT_THAT(ValidateName("..", "dataset"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dataset")));
  EXPECT_THAT(ValidateName("a/b", "dataset"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateName("", "dataset"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ResolveUnder, KeepsPathsInsideRoot) {
  EXPECT_EQ(*ResolveUnder("/data", "imagenet/val", "data"), "/data/imagenet/val");
  EXPECT_EQ(*ResolveUnder("/data/", "/data/x.safetensors", "weights"), "/data/x.safetensors");
  EXPECT_THAT(ResolveUnder("/data", "../etc/passwd", "weights"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weights")));
  EXPECT_THAT(ResolveUnder("/data", "a/../../b", "weights"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ResolveUnder("/data", "/etc/passwd", "weights"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib
