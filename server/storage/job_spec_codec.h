// JobSpec ⇄ JSON, the form the `jobs.spec` jsonb column holds. Self-describing field
// names (so SQL can look inside), every field written, doubles with 17 significant
// digits so a round trip is exact. Thread-compatible pure functions.
#ifndef RIB_SERVER_STORAGE_JOB_SPEC_CODEC_H_
#define RIB_SERVER_STORAGE_JOB_SPEC_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"

namespace rib::storage {

std::string EncodeJobSpec(const JobSpec& spec);
// INVALID_ARGUMENT (DATA_LOSS for stored rows is the caller's call) on malformed text.
absl::StatusOr<JobSpec> DecodeJobSpec(const std::string& json);

}  // namespace rib::storage

#endif  // RIB_SERVER_STORAGE_JOB_SPEC_CODEC_H_
