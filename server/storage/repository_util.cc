#include "server/storage/repository_util.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/robustness_bootstrap.h"
#include "common/status_macros.h"
#include "spec/methods.h"

namespace rib::storage::internal {

absl::Status ValidateNewSweep(const NewSweep& sweep) {
  if (sweep.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be at least 1, got ", sweep.max_attempts));
  }
  std::set<std::string> seen;
  for (const NewJob& job : sweep.jobs) {
    if (job.key.empty()) return absl::InvalidArgumentError("a job has an empty key");
    if (job.hash.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("job ", job.key, " has no hash"));
    }
    for (const std::string& dep : job.depends_on) {
      if (seen.count(dep) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "job ", job.key, " depends on '", dep, "', which is not an earlier job"));
      }
    }
    if (!seen.insert(job.key).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate job key ", job.key));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> JobDatasets(const JobSpec& spec) {
  std::set<std::string> all(spec.eval_datasets.begin(), spec.eval_datasets.end());
  if (!spec.finetune_dataset.empty()) all.insert(spec.finetune_dataset);
  for (std::string& key : spec::MethodExtraDatasets(spec)) all.insert(std::move(key));
  return {all.begin(), all.end()};
}

absl::Status ValidateReport(const domain::JobReport& report) {
  if (report.job_id.empty())
    return absl::InvalidArgumentError("job event without job_id");
  if (report.attempt < 1) {
    return absl::InvalidArgumentError(absl::StrCat("job event for ", report.job_id,
                                                   " has attempt ", report.attempt,
                                                   "; attempts start at 1"));
  }
  if (report.kind == domain::JobReport::Kind::kResult) {
    const ResultRow& r = report.result;
    if (r.dataset.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("result for job ", report.job_id, " names no dataset"));
    }
    if (r.correct < 0 || r.total < r.correct || r.skipped < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "result for job ", report.job_id, " dataset ", r.dataset,
          " has correct=", r.correct, " total=", r.total, " skipped=", r.skipped));
    }
    const std::string what = absl::StrCat("result for job ", report.job_id, " dataset ",
                                          r.dataset, " subset '", r.subset, "': ");
    if (!r.evaluated_bits.empty()) {
      // One bit per image of the whole (dataset, subset), the evaluated ones marked:
      // those scored, so `total` of them (a skipped image was not evaluated); the right
      // ones among them set in correct_bits, and no other.
      const int64_t size = static_cast<int64_t>(r.evaluated_bits.size()) * 8;
      if (r.correct_bits.size() != r.evaluated_bits.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, r.correct_bits.size(), " bytes of per-image bits but ",
            r.evaluated_bits.size(), " bytes of evaluated bits"));
      }
      RIB_ASSIGN_OR_RETURN(int64_t evaluated, CountBits(r.evaluated_bits, "", size));
      RIB_ASSIGN_OR_RETURN(int64_t right, CountBits(r.correct_bits, "", size));
      RIB_ASSIGN_OR_RETURN(int64_t right_evaluated,
                           CountBits(r.correct_bits, r.evaluated_bits, size));
      if (evaluated != r.total) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, "evaluated bits mark ", evaluated, " images, not total = ", r.total));
      }
      if (right != right_evaluated || right != r.correct) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, "per-image bits count ", right, " right images (", right_evaluated,
            " of them evaluated), not correct = ", r.correct));
      }
    } else if (!r.correct_bits.empty()) {
      // One bit per image of the evaluation list, the right ones set.
      absl::StatusOr<int64_t> right = CountBits(r.correct_bits, "", r.total + r.skipped);
      if (!right.ok() || *right != r.correct) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, r.correct_bits.size(), " bytes of per-image bits ",
            right.ok() ? absl::StrCat("count ", *right, " right images, not ", r.correct)
                       : absl::StrCat("for ", r.total + r.skipped, " images")));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  int64_t v = 0;
  if (!absl::SimpleAtoi(token, &v) || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid page_token '", token, "'"));
  }
  return v;
}

int ClampPageSize(int requested, int default_size, int max_size) {
  if (requested <= 0) return default_size;
  return std::min(requested, max_size);
}

absl::Status StaleReportError(const std::string& job_id, int attempt, int current_attempt,
                              domain::JobState state) {
  return absl::FailedPreconditionError(
      absl::StrCat("stale report for job ", job_id, ": attempt ", attempt,
                   ", but the job is at attempt ", current_attempt, " in state ",
                   domain::JobStateName(state)));
}

}  // namespace rib::storage::internal
