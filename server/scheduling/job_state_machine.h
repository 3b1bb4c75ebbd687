// The job state machine (DESIGN §8), as pure functions shared by every Repository
// implementation so the in-memory fake and PostgreSQL apply the same rules.
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

#include "absl/status/status.h"
#include "server/domain/types.h"

namespace rib::scheduling {

using domain::JobState;

bool IsTransitionAllowed(JobState from, JobState to);
// OK, or FAILED_PRECONDITION naming both states.
absl::Status CheckTransition(JobState from, JobState to);

// The state a new job starts in: SUCCEEDED when its result is reused, QUEUED when all
// its dependencies have succeeded (or it has none), PENDING otherwise.
JobState InitialJobState(bool reused, bool dependencies_succeeded);

// After attempt `attempt` of a job failed (or its lease expired): QUEUED when the
// failure is retryable and attempts remain (attempt < max_attempts), else FAILED.
JobState StateAfterFailedAttempt(int attempt, int max_attempts, bool retryable);

// A sweep is ACTIVE while any job is not terminal; then CANCELLED if any job was
// cancelled, FAILED if any failed, SUCCEEDED otherwise (an empty sweep succeeded).
domain::SweepState DeriveSweepState(const std::map<JobState, int>& counts);

}  // namespace rib::scheduling

#endif  // RIB_SERVER_SCHEDULING_JOB_STATE_MACHINE_H_
