// The job state machine (DESIGN §8), as pure functions: the only place that says which
// state may follow which. The repository writes every state change through it: its SQL
// guards (`state = ANY(...)`) are the sets returned here, never a hand-written list.
//
//   PENDING ──deps succeeded──▶ QUEUED ──AcquireJob──▶ LEASED ──started──▶ RUNNING
//      │                          ▲  ▲                   │  │                 │
//      │                          │  └──lease expired / retryable failure ───┘
//      │                          │                      │                    │
//      └─▶ FAILED (a dependency failed)                  └──▶ SUCCEEDED | FAILED
//   any non-terminal ──CancelSweep──▶ CANCELLED
//   FAILED | CANCELLED ──RetrySweep──▶ QUEUED | PENDING
// SUCCEEDED is final. Thread-compatible (no state).
#ifndef RIB_SERVER_SCHEDULING_JOB_STATE_MACHINE_H_
#define RIB_SERVER_SCHEDULING_JOB_STATE_MACHINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/domain/types.h"

namespace rib::scheduling {

using domain::JobState;

bool IsTransitionAllowed(JobState from, JobState to);
// OK, or FAILED_PRECONDITION naming both states.
absl::Status CheckTransition(JobState from, JobState to);

// Every state `to` may be reached from (IsTransitionAllowed(from, to)), in enum order.
std::vector<JobState> StatesThatCanBecome(JobState to);
// The states in which a job holds a lease (LEASED, RUNNING): what a heartbeat renews,
// a report must find (fencing), lease expiry looks at, and fair share counts.
std::vector<JobState> LeaseHoldingStates();
bool HoldsLease(JobState s);
// The terminal states (SUCCEEDED, FAILED, CANCELLED).
std::vector<JobState> TerminalStates();
// The terminal states a retry of the sweep starts again (FAILED, CANCELLED): terminal
// states that may become QUEUED.
std::vector<JobState> RestartableStates();
// Where a job that may run goes (a new one, or one a retry restarts): QUEUED when its
// dependencies have succeeded (or it has none), PENDING otherwise.
JobState QueuedOrPending(bool dependencies_succeeded);
// Names as stored ("QUEUED", ...), for SQL `state = ANY($n::text[])` parameters.
std::vector<std::string> StateNames(const std::vector<JobState>& states);

// The state a new job starts in: SUCCEEDED when its result is reused, QUEUED when all
// its dependencies have succeeded (or it has none), PENDING otherwise.
JobState InitialJobState(bool reused, bool dependencies_succeeded);

// After attempt `attempt` of a job failed (or its lease expired): QUEUED when the
// failure is retryable and attempts remain (attempt < max_attempts), else FAILED.
// Whether a failure is retryable is retry_policy.h's decision.
JobState StateAfterFailedAttempt(int attempt, int max_attempts, bool retryable);

// A sweep is ACTIVE while any job is not terminal; then CANCELLED if any job was
// cancelled, FAILED if any failed, SUCCEEDED otherwise (an empty sweep succeeded).
domain::SweepState DeriveSweepState(const std::map<JobState, int>& counts);

}  // namespace rib::scheduling

#endif  // RIB_SERVER_SCHEDULING_JOB_STATE_MACHINE_H_
