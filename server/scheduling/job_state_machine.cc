#include "server/scheduling/job_state_machine.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace rib::scheduling {

using domain::JobStateName;

bool IsTransitionAllowed(JobState from, JobState to) {
  switch (from) {
    case JobState::kPending:
      return to == JobState::kQueued || to == JobState::kFailed ||
             to == JobState::kCancelled;
    case JobState::kQueued:
      return to == JobState::kLeased || to == JobState::kCancelled;
    case JobState::kLeased:
      // A fast job may finish before it reports `started`.
      return to == JobState::kRunning || to == JobState::kQueued ||
             to == JobState::kSucceeded || to == JobState::kFailed ||
             to == JobState::kCancelled;
    case JobState::kRunning:
      return to == JobState::kQueued || to == JobState::kSucceeded ||
             to == JobState::kFailed || to == JobState::kCancelled;
    case JobState::kSucceeded:
      return false;
    case JobState::kFailed:
    case JobState::kCancelled:
      return to == JobState::kQueued || to == JobState::kPending;
  }
  return false;
}

absl::Status CheckTransition(JobState from, JobState to) {
  if (IsTransitionAllowed(from, to)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "job state ", JobStateName(from), " cannot change to ", JobStateName(to)));
}

std::vector<JobState> StatesThatCanBecome(JobState to) {
  std::vector<JobState> out;
  for (JobState from : domain::kAllJobStates) {
    if (IsTransitionAllowed(from, to)) out.push_back(from);
  }
  return out;
}

bool HoldsLease(JobState s) { return s == JobState::kLeased || s == JobState::kRunning; }

std::vector<JobState> LeaseHoldingStates() {
  std::vector<JobState> out;
  for (JobState s : domain::kAllJobStates) {
    if (HoldsLease(s)) out.push_back(s);
  }
  return out;
}

std::vector<JobState> TerminalStates() {
  std::vector<JobState> out;
  for (JobState s : domain::kAllJobStates) {
    if (domain::IsTerminal(s)) out.push_back(s);
  }
  return out;
}

std::vector<JobState> RestartableStates() {
  std::vector<JobState> out;
  for (JobState s : TerminalStates()) {
    if (IsTransitionAllowed(s, JobState::kQueued)) out.push_back(s);
  }
  return out;
}

JobState QueuedOrPending(bool dependencies_succeeded) {
  return dependencies_succeeded ? JobState::kQueued : JobState::kPending;
}

std::vector<std::string> StateNames(const std::vector<JobState>& states) {
  std::vector<std::string> out;
  for (JobState s : states) out.emplace_back(JobStateName(s));
  return out;
}

JobState InitialJobState(bool reused, bool dependencies_succeeded) {
  if (reused) return JobState::kSucceeded;
  return QueuedOrPending(dependencies_succeeded);
}

JobState StateAfterFailedAttempt(int attempt, int max_attempts, bool retryable) {
  return retryable && attempt < max_attempts ? JobState::kQueued : JobState::kFailed;
}

domain::SweepState DeriveSweepState(const std::map<JobState, int>& counts) {
  auto count = [&](JobState s) {
    auto it = counts.find(s);
    return it == counts.end() ? 0 : it->second;
  };
  for (JobState s : domain::kAllJobStates) {
    if (!domain::IsTerminal(s) && count(s) > 0) return domain::SweepState::kActive;
  }
  if (count(JobState::kCancelled) > 0) return domain::SweepState::kCancelled;
  if (count(JobState::kFailed) > 0) return domain::SweepState::kFailed;
  return domain::SweepState::kSucceeded;
}

}  // namespace rib::scheduling
