// Which failed attempts run again (DESIGN §8, "retry only what is transient"): the one
// place that decides it. An attempt ends without success in one of three ways:
//  * the worker reports a failure with a status code: UNAVAILABLE, DEADLINE_EXCEEDED
//    and RESOURCE_EXHAUSTED are transient (another attempt may succeed); every other
//    code (INTERNAL, UNKNOWN, INVALID_ARGUMENT, FAILED_PRECONDITION, ...) is
//    deterministic: a shape bug or a NaN loss fails the same way on every worker, so the
//    job fails once, with its message;
//  * the worker releases the lease (it drains, or has no room after all): retried, and
//    the attempt does not count against max_attempts (the repository gives the job one
//    more), so drains never use up a job's budget;
//  * the lease expires, or the worker registers again (it restarted): the coordinator
//    lost contact with the worker (killed, its
//    machine or network failed, stopped) — or the job itself brought the worker down
//    (out of memory). Retried; the first kFreeLostContacts of a job's lost contacts do
//    not count against max_attempts, later ones do, so a job that keeps killing its
//    workers still ends FAILED;
//  * the lease is orphaned: the worker never received the AcquireJob answer that
//    granted it (the answer was lost) and says so by not listing it among the leases
//    it holds at its next AcquireJob. Retried, and never counted.
// A retried job goes back to QUEUED with attempt + 1 at the next hand-out, up to the
// job's max_attempts (job_state_machine.h, StateAfterFailedAttempt). Pure functions.
#ifndef RIB_SERVER_SCHEDULING_RETRY_POLICY_H_
#define RIB_SERVER_SCHEDULING_RETRY_POLICY_H_

#include <string>

#include "absl/status/status.h"
#include "server/domain/types.h"

namespace rib::scheduling {

bool IsTransient(absl::StatusCode code);

// Whether the attempt a worker reported as failed (report.kind == kFinished, !ok) may
// run again.
bool ShouldRetry(const domain::JobReport& report);

// Whether the failed attempt counts against the job's max_attempts (a release does
// not).
bool ConsumesAttempt(const domain::JobReport& report);

// The state after attempt `attempt` of `max_attempts` ended as `report` says.
domain::JobState StateAfterReportedFailure(const domain::JobReport& report, int attempt,
                                           int max_attempts);
// How many lease expiries of one job (since it was submitted or retried) are free.
inline constexpr int kFreeLostContacts = 5;

// Whether a lease expiry that makes `lost_contacts` expiries of the job (counting this
// one) uses up an attempt.
bool LeaseExpiryConsumesAttempt(int lost_contacts);

// The state after attempt `attempt`'s lease expired, the job's `lost_contacts`-th
// (always retryable; QUEUED while free, see above).
domain::JobState StateAfterLeaseExpiry(int attempt, int max_attempts, int lost_contacts);

// The job's error after a failed attempt: the worker's message, or a placeholder.
std::string FailureMessage(const domain::JobReport& report);
// The job's error after its lease expired.
std::string LeaseExpiredMessage(int attempt, const std::string& worker_id);
// The job's error after its worker registered again (it restarted) while it held the
// attempt's lease.
std::string WorkerRestartedMessage(int attempt, const std::string& worker_id);
// The job's error after its lease was found orphaned.
std::string OrphanedLeaseMessage(int attempt, const std::string& worker_id);

}  // namespace rib::scheduling

#endif  // RIB_SERVER_SCHEDULING_RETRY_POLICY_H_
