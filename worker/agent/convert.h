// Conversion between the wire type rib.v1.JobSpec and the plain rib::JobSpec the engine
// runs. Protobuf types stop here (CONVENTIONS: Layering); the coordinator's rpc adapter
// has its own copy for its direction.
#ifndef RIB_WORKER_AGENT_CONVERT_H_
#define RIB_WORKER_AGENT_CONVERT_H_

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "rib/v1/common.pb.h"

namespace rib::agent {

// proto3 cannot tell "unset" from zero: fields whose zero value is meaningless
// (image_size, batch_size, precision "", ...) keep the plain struct's default; every
// other field is copied verbatim. INVALID_ARGUMENT when a required field is missing
// (model arch, method kind) or a count is negative.
absl::StatusOr<JobSpec> JobSpecFromProto(const v1::JobSpec& proto);
v1::JobSpec JobSpecToProto(const JobSpec& spec);

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_CONVERT_H_
