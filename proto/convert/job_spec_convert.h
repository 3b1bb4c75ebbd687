// The one conversion between the wire type rib.v1.JobSpec and the plain rib::JobSpec
// (spec/job_spec.h), used by the coordinator's rpc adapter (server/rpc/convert.cc) and
// by the worker's agent and rank processes. Protobuf types stop here (CONVENTIONS:
// Layering).
//
// Thread-safety: pure functions; thread-safe.
#ifndef RIB_PROTO_CONVERT_JOB_SPEC_CONVERT_H_
#define RIB_PROTO_CONVERT_JOB_SPEC_CONVERT_H_

#include "absl/status/statusor.h"
#include "rib/v1/common.pb.h"
#include "spec/job_spec.h"

namespace rib::convert {

// proto3 cannot tell "unset" from zero: fields whose zero value is meaningless
// (image_size, batch_size, precision "", an empty method name, ...) keep the plain
// struct's default; every other field (lr, warmup_steps, seed, ...: zero is a value) is
// copied verbatim. INVALID_ARGUMENT when a required field is missing (model arch,
// method kind) or a count is negative.
absl::StatusOr<JobSpec> JobSpecFromProto(const v1::JobSpec& proto);
// Writes every field, so JobSpecFromProto(JobSpecToProto(s)) == s for a valid spec.
v1::JobSpec JobSpecToProto(const JobSpec& spec);

}  // namespace rib::convert

#endif  // RIB_PROTO_CONVERT_JOB_SPEC_CONVERT_H_
