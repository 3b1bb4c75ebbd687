#include "server/scheduling/retry_policy.h"

#include "absl/strings/str_cat.h"
#include "server/scheduling/job_state_machine.h"

namespace rib::scheduling {

bool IsTransient(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

bool ShouldRetry(const domain::JobReport& report) {
  return report.released || IsTransient(report.code);
}

bool ConsumesAttempt(const domain::JobReport& report) { return !report.released; }

domain::JobState StateAfterReportedFailure(const domain::JobReport& report, int attempt,
                                           int max_attempts) {
  if (!ConsumesAttempt(report)) return domain::JobState::kQueued;
  return StateAfterFailedAttempt(attempt, max_attempts, ShouldRetry(report));
}

bool LeaseExpiryConsumesAttempt(int lost_contacts) {
  return lost_contacts > kFreeLostContacts;
}

domain::JobState StateAfterLeaseExpiry(int attempt, int max_attempts, int lost_contacts) {
  if (!LeaseExpiryConsumesAttempt(lost_contacts)) return domain::JobState::kQueued;
  return StateAfterFailedAttempt(attempt, max_attempts, /*retryable=*/true);
}

std::string FailureMessage(const domain::JobReport& report) {
  return report.error.empty() ? "attempt failed without an error message" : report.error;
}

std::string LeaseExpiredMessage(int attempt, const std::string& worker_id) {
  return absl::StrCat("lease of attempt ", attempt, " expired (worker ", worker_id,
                      " stopped renewing it)");
}

std::string WorkerRestartedMessage(int attempt, const std::string& worker_id) {
  return absl::StrCat("worker ", worker_id, " restarted while it ran attempt ", attempt);
}

std::string OrphanedLeaseMessage(int attempt, const std::string& worker_id) {
  return absl::StrCat("attempt ", attempt, " was handed out but worker ", worker_id,
                      " never received it (its AcquireJob answer was lost)");
}

}  // namespace rib::scheduling
