#include "worker/engine/schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace rib::engine {

absl::Status ValidateSchedule(const ScheduleOptions& options) {
  if (options.schedule != "cosine" && options.schedule != "constant") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown lr schedule '", options.schedule, "' (expected cosine or constant)"));
  }
  if (options.total_steps <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("total_steps must be positive, got ", options.total_steps));
  }
  if (options.warmup_steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("warmup_steps must be >= 0, got ", options.warmup_steps));
  }
  if (!(options.base_lr >= 0.0) || !std::isfinite(options.base_lr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lr must be a finite value >= 0, got ", options.base_lr));
  }
  return absl::OkStatus();
}

double LearningRateAt(const ScheduleOptions& options, int64_t step) {
  const int64_t total = std::max<int64_t>(1, options.total_steps);
  const int64_t warmup = std::clamp<int64_t>(options.warmup_steps, 0, total);
  if (step < warmup) {
    return options.base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  }
  if (options.schedule == "constant") return options.base_lr;
  if (total == warmup) return 0.0;
  const double progress = std::min(
      1.0, static_cast<double>(step - warmup) / static_cast<double>(total - warmup));
  return options.base_lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace rib::engine
