// Validation of a Repository's input, and its error messages.
#ifndef RIB_SERVER_STORAGE_REPOSITORY_UTIL_H_
#define RIB_SERVER_STORAGE_REPOSITORY_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/storage/repository.h"

namespace rib::storage::internal {

// Keys unique and non-empty, every depends_on names an earlier job, hashes non-empty,
// max_attempts >= 1. INVALID_ARGUMENT naming the job otherwise.
absl::Status ValidateNewSweep(const NewSweep& sweep);
// The datasets a job reads: its fine-tune dataset (if any), every eval dataset and
// those its method reads (spec::MethodExtraDatasets: ewc's Fisher dataset),
// sorted and unique. A worker must advertise all of them.
std::vector<std::string> JobDatasets(const JobSpec& spec);
// Fields of a report that are checked before any fencing: non-empty job id, a
// positive attempt, a result with a dataset name and 0 <= correct <= total.
absl::Status ValidateReport(const domain::JobReport& report);
// "" → 0; otherwise a decimal sequence number. INVALID_ARGUMENT for garbage.
absl::StatusOr<int64_t> ParsePageToken(const std::string& token);
int ClampPageSize(int requested, int default_size, int max_size);
// The FAILED_PRECONDITION of a fenced-off report.
absl::Status StaleReportError(const std::string& job_id, int attempt, int current_attempt,
                              domain::JobState state);

}  // namespace rib::storage::internal

#endif  // RIB_SERVER_STORAGE_REPOSITORY_UTIL_H_
