#include "server/scheduling/job_state_machine.h"

#include <set>
#include <utility>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::scheduling {
namespace {

using domain::JobState;
using domain::SweepState;
using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

using S = JobState;

// Every allowed transition; everything else must be refused.
const std::set<std::pair<S, S>> kAllowed = {
    {S::kPending, S::kQueued},    {S::kPending, S::kFailed},
    {S::kPending, S::kCancelled}, {S::kQueued, S::kLeased},
    {S::kQueued, S::kCancelled},  {S::kLeased, S::kRunning},
    {S::kLeased, S::kQueued},     {S::kLeased, S::kSucceeded},
    {S::kLeased, S::kFailed},     {S::kLeased, S::kCancelled},
    {S::kRunning, S::kQueued},    {S::kRunning, S::kSucceeded},
    {S::kRunning, S::kFailed},    {S::kRunning, S::kCancelled},
    {S::kFailed, S::kQueued},     {S::kFailed, S::kPending},
    {S::kCancelled, S::kQueued},  {S::kCancelled, S::kPending},
};

TEST(JobStateMachineTest, EveryPairIsAllowedExactlyWhenListed) {
  int allowed = 0;
  for (S from : domain::kAllJobStates) {
    for (S to : domain::kAllJobStates) {
      const bool expect = kAllowed.count({from, to}) > 0;
      EXPECT_EQ(IsTransitionAllowed(from, to), expect)
          << domain::JobStateName(from) << " -> " << domain::JobStateName(to);
      if (expect) {
        EXPECT_THAT(CheckTransition(from, to), IsOk());
        ++allowed;
      } else {
        EXPECT_THAT(CheckTransition(from, to),
                    StatusIs(absl::StatusCode::kFailedPrecondition,
                             HasSubstr(std::string(domain::JobStateName(from)) +
                                       " cannot change to " + domain::JobStateName(to))));
      }
    }
  }
  EXPECT_EQ(allowed, 18);
}

TEST(JobStateMachineTest, SucceededIsFinal) {
  for (S to : domain::kAllJobStates) EXPECT_FALSE(IsTransitionAllowed(S::kSucceeded, to));
}

TEST(JobStateMachineTest, InitialState) {
  EXPECT_EQ(InitialJobState(true, false), S::kSucceeded);
  EXPECT_EQ(InitialJobState(true, true), S::kSucceeded);
  EXPECT_EQ(InitialJobState(false, true), S::kQueued);
  EXPECT_EQ(InitialJobState(false, false), S::kPending);
}

TEST(JobStateMachineTest, FailedAttemptRequeuesUntilMaxAttempts) {
  EXPECT_EQ(StateAfterFailedAttempt(1, 3, true), S::kQueued);
  EXPECT_EQ(StateAfterFailedAttempt(2, 3, true), S::kQueued);
  EXPECT_EQ(StateAfterFailedAttempt(3, 3, true), S::kFailed);
  EXPECT_EQ(StateAfterFailedAttempt(1, 3, false), S::kFailed);
}

TEST(JobStateMachineTest, SweepStateFromCounts) {
  EXPECT_EQ(DeriveSweepState({}), SweepState::kSucceeded);
  EXPECT_EQ(DeriveSweepState({{S::kSucceeded, 3}}), SweepState::kSucceeded);
  EXPECT_EQ(DeriveSweepState({{S::kSucceeded, 3}, {S::kQueued, 1}}), SweepState::kActive);
  EXPECT_EQ(DeriveSweepState({{S::kSucceeded, 3}, {S::kFailed, 1}}), SweepState::kFailed);
  EXPECT_EQ(DeriveSweepState({{S::kFailed, 1}, {S::kCancelled, 1}}),
            SweepState::kCancelled);
  EXPECT_EQ(DeriveSweepState({{S::kFailed, 1}, {S::kRunning, 1}}), SweepState::kActive);
}

TEST(JobStateMachineTest, NamesRoundTrip) {
  for (S s : domain::kAllJobStates) {
    EXPECT_EQ(domain::ParseJobState(domain::JobStateName(s)), s);
  }
  EXPECT_EQ(domain::ParseJobState("queued"), std::nullopt);
}

}  // namespace
}  // namespace rib::scheduling
