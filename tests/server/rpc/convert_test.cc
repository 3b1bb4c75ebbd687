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

}  // namespace
}  // namespace rib::rpc
