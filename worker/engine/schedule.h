// Learning-rate schedules, per optimiser step (DESIGN §6): linear warm-up, then cosine
// (or constant) decay to 0. Pure functions; thread-safe.
#ifndef RIB_WORKER_ENGINE_SCHEDULE_H_
#define RIB_WORKER_ENGINE_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace rib::engine {

struct ScheduleOptions {
  double base_lr = 1e-3;
  // Linear warm-up length in steps (the paper's 196). Clamped to total_steps.
  int64_t warmup_steps = 196;
  int64_t total_steps = 1;
  // "cosine" (to 0 at total_steps) or "constant" (base_lr after warm-up).
  std::string schedule = "cosine";
};

// INVALID_ARGUMENT for an unknown schedule, a non-positive total or a negative lr.
absl::Status ValidateSchedule(const ScheduleOptions& options);

// The learning rate of optimiser step `step` (0-based):
//   step < W:  base * (step + 1) / W                 (reaches base at the end of warm-up)
//   step >= W: base * 0.5 * (1 + cos(pi * (step - W) / (T - W)))   (cosine)
// so lr(W) = base, lr(W + (T - W) / 2) = base / 2 and lr(T) = 0.
double LearningRateAt(const ScheduleOptions& options, int64_t step);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_SCHEDULE_H_
