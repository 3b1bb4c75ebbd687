#include "server/domain/types.h"

namespace rib::domain {

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kPending:
      return "PENDING";
    case JobState::kQueued:
      return "QUEUED";
    case JobState::kLeased:
      return "LEASED";
    case JobState::kRunning:
      return "RUNNING";
    case JobState::kSucceeded:
      return "SUCCEEDED";
    case JobState::kFailed:
      return "FAILED";
    case JobState::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

std::optional<JobState> ParseJobState(const std::string& name) {
  for (JobState s : kAllJobStates) {
    if (name == JobStateName(s)) return s;
  }
  return std::nullopt;
}

const char* SweepStateName(SweepState s) {
  switch (s) {
    case SweepState::kActive:
      return "ACTIVE";
    case SweepState::kSucceeded:
      return "SUCCEEDED";
    case SweepState::kFailed:
      return "FAILED";
    case SweepState::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

std::optional<SweepState> ParseSweepState(const std::string& name) {
  for (SweepState s : {SweepState::kActive, SweepState::kSucceeded, SweepState::kFailed,
                       SweepState::kCancelled}) {
    if (name == SweepStateName(s)) return s;
  }
  return std::nullopt;
}

const char* WorkerStateName(WorkerState s) {
  switch (s) {
    case WorkerState::kActive:
      return "ACTIVE";
    case WorkerState::kDraining:
      return "DRAINING";
    case WorkerState::kLost:
      return "LOST";
  }
  return "UNKNOWN";
}

std::optional<WorkerState> ParseWorkerState(const std::string& name) {
  for (WorkerState s :
       {WorkerState::kActive, WorkerState::kDraining, WorkerState::kLost}) {
    if (name == WorkerStateName(s)) return s;
  }
  return std::nullopt;
}

bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}

const char* RoleName(Role r) {
  switch (r) {
    case Role::kUser:
      return "user";
    case Role::kAdmin:
      return "admin";
    case Role::kWorker:
      return "worker";
  }
  return "unknown";
}

std::optional<Role> ParseRole(const std::string& name) {
  for (Role r : {Role::kUser, Role::kAdmin, Role::kWorker}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

}  // namespace rib::domain
