#include "server/scheduling/retry_policy.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduling/job_state_machine.h"

namespace rib::scheduling {
namespace {

using domain::JobReport;
using domain::JobState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RetryPolicyTest, OnlyUnavailableDeadlineAndResourceExhaustionAreTransient) {
  const std::set<absl::StatusCode> transient = {absl::StatusCode::kUnavailable,
                                                absl::StatusCode::kDeadlineExceeded,
                                                absl::StatusCode::kResourceExhausted};
  for (int c = 0; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    EXPECT_EQ(IsTransient(code), transient.count(code) > 0)
        << absl::StatusCodeToString(code);
  }
}

TEST(RetryPolicyTest, ADeterministicFailureFailsOnceAReleaseIsRetried) {
  JobReport r;
  r.kind = JobReport::Kind::kFinished;
  r.code = absl::StatusCode::kInternal;
  EXPECT_EQ(StateAfterReportedFailure(r, 1, 3), JobState::kFailed);
  r.code = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(StateAfterReportedFailure(r, 1, 3), JobState::kFailed);
  r.released = true;  // the worker drained: whatever the code, it runs again ...
  EXPECT_EQ(StateAfterReportedFailure(r, 1, 3), JobState::kQueued);
  EXPECT_EQ(StateAfterReportedFailure(r, 3, 3), JobState::kQueued);  // ... even the last
  EXPECT_FALSE(ConsumesAttempt(r));
  r.released = false;
  r.code = absl::StatusCode::kResourceExhausted;
  EXPECT_EQ(StateAfterReportedFailure(r, 2, 3), JobState::kQueued);
  EXPECT_EQ(StateAfterReportedFailure(r, 3, 3), JobState::kFailed);
}

// Losing contact with a worker is not the job's failure: the first kFreeLostContacts
// expiries run again even on the last attempt; later ones count like a crash.
TEST(RetryPolicyTest, LostContactsAreFreeUpToABound) {
  EXPECT_EQ(kFreeLostContacts, 5);
  for (int lost = 1; lost <= kFreeLostContacts; ++lost) {
    EXPECT_FALSE(LeaseExpiryConsumesAttempt(lost)) << lost;
    EXPECT_EQ(StateAfterLeaseExpiry(2, 2, lost), JobState::kQueued) << lost;
  }
  EXPECT_TRUE(LeaseExpiryConsumesAttempt(kFreeLostContacts + 1));
  EXPECT_EQ(StateAfterLeaseExpiry(1, 2, kFreeLostContacts + 1), JobState::kQueued);
  EXPECT_EQ(StateAfterLeaseExpiry(2, 2, kFreeLostContacts + 1), JobState::kFailed);
}

TEST(RetryPolicyTest, Messages) {
  JobReport r;
  EXPECT_EQ(FailureMessage(r), "attempt failed without an error message");
  r.error = "NaN loss at step 17";
  EXPECT_EQ(FailureMessage(r), "NaN loss at step 17");
  EXPECT_THAT(LeaseExpiredMessage(2, "w1"), HasSubstr("lease of attempt 2 expired"));
  EXPECT_THAT(OrphanedLeaseMessage(4, "w1"),
              HasSubstr("attempt 4 was handed out but worker w1 never received it"));
}

TEST(StateSetsTest, DerivedFromTheTransitionTable) {
  EXPECT_THAT(StatesThatCanBecome(JobState::kLeased), ElementsAre(JobState::kQueued));
  EXPECT_THAT(StatesThatCanBecome(JobState::kCancelled),
              ElementsAre(JobState::kPending, JobState::kQueued, JobState::kLeased,
                          JobState::kRunning));
  EXPECT_THAT(StatesThatCanBecome(JobState::kSucceeded),
              ElementsAre(JobState::kLeased, JobState::kRunning));
  EXPECT_THAT(LeaseHoldingStates(), ElementsAre(JobState::kLeased, JobState::kRunning));
  EXPECT_THAT(TerminalStates(),
              ElementsAre(JobState::kSucceeded, JobState::kFailed, JobState::kCancelled));
  EXPECT_THAT(RestartableStates(), ElementsAre(JobState::kFailed, JobState::kCancelled));
  EXPECT_THAT(StateNames({JobState::kQueued, JobState::kRunning}),
              ElementsAre("QUEUED", "RUNNING"));
  EXPECT_EQ(QueuedOrPending(true), JobState::kQueued);
  EXPECT_EQ(QueuedOrPending(false), JobState::kPending);
}

}  // namespace
}  // namespace rib::scheduling
