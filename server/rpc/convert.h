// Conversions between rib.v1 messages and the coordinator's plain types. The only
// place (with the service adapters) where protobuf meets domain code.
#ifndef RIB_SERVER_RPC_CONVERT_H_
#define RIB_SERVER_RPC_CONVERT_H_

#include "absl/status/statusor.h"
#include "rib/v1/common.pb.h"
#include "rib/v1/coordinator.pb.h"
#include "rib/v1/worker.pb.h"
#include "server/domain/types.h"
#include "server/service/sweep_service.h"
#include "server/storage/repository.h"
#include "spec/job_spec.h"

namespace rib::rpc {

// convert::JobSpecToProto (proto/convert/job_spec_convert.h), the one converter; the
// coordinator never reads a JobSpec from the wire.
void ToProto(const JobSpec& in, v1::JobSpec* out);
v1::JobState ToProto(domain::JobState s);
// nullopt for JOB_STATE_UNSPECIFIED; INVALID_ARGUMENT for values out of range.
absl::StatusOr<std::optional<domain::JobState>> FromProto(v1::JobState s);
void ToProto(const ResultRow& in, v1::Accuracy* out);
void ToProto(const domain::Job& in, v1::Job* out);
void ToProto(const domain::Sweep& in, v1::Sweep* out);
void ToProto(const domain::Worker& in, v1::Worker* out);
void ToProto(const domain::SweepEvent& in, v1::SweepEvent* out);
void ToProto(const domain::Matrix& in, v1::Matrix* out);
void ToProto(const domain::Lease& in, v1::AcquireJobResponse* out);
storage::WorkerRegistration FromProto(const v1::RegisterRequest& in);
// INVALID_ARGUMENT for an event with no payload.
absl::StatusOr<domain::JobReport> FromProto(const v1::JobEvent& in);
void ToProto(const domain::ReproRecord& in, v1::ReproRecord* out);
domain::ReproRecord FromProto(const v1::ReproRecord& in);
void ToProto(const domain::Attempt& in, v1::Attempt* out);
void ToProto(const domain::LogChunk& in, v1::AttemptLog* out);
// `reporter` is left empty: the handler sets the caller.
domain::LogAppend FromProto(const v1::AppendAttemptLogRequest& in);
void ToProto(const service::SweepPlan& in, v1::SweepPlan* out);
v1::Role ToProto(domain::Role r);
// INVALID_ARGUMENT for ROLE_UNSPECIFIED or an unknown value.
absl::StatusOr<domain::Role> FromProto(v1::Role r);
void ToProto(const domain::TokenInfo& in, v1::TokenInfo* out);
void ToProto(const domain::Quota& in, v1::Quota* out);

}  // namespace rib::rpc

#endif  // RIB_SERVER_RPC_CONVERT_H_
