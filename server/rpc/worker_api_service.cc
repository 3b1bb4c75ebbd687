#include "server/rpc/worker_api_service.h"

#include "absl/strings/str_cat.h"
#include "server/rpc/convert.h"
#include "server/rpc/status.h"

namespace rib::rpc {
namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

}  // namespace

grpc::Status WorkerApiService::Register(grpc::ServerContext* ctx,
                                        const v1::RegisterRequest* req,
                                        v1::RegisterResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.WorkerApi.Register");
  if (req->name().empty()) return Invalid("name is required");
  storage::WorkerRegistration reg = FromProto(*req);
  reg.principal = who.user;
  auto out = workers_->Register(reg);
  if (!out.ok()) return ToGrpcStatus(out.status());
  resp->set_worker_id(out->worker.id);
  resp->set_heartbeat_interval_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(out->heartbeat_interval)));
  resp->set_lease_timeout_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(out->lease_timeout)));
  return grpc::Status::OK;
}

grpc::Status WorkerApiService::Heartbeat(grpc::ServerContext* ctx,
                                         const v1::HeartbeatRequest* req,
                                         v1::HeartbeatResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.WorkerApi.Heartbeat");
  if (req->worker_id().empty()) return Invalid("worker_id is required");
  std::vector<domain::LeaseRef> leases;
  for (const auto& l : req->leases()) leases.push_back({l.job_id(), l.attempt()});
  auto out = workers_->Heartbeat(who.user, req->worker_id(), leases, req->free_devices());
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& r : out->revoked) {
    v1::LeaseRef* ref = resp->add_revoked();
    ref->set_job_id(r.job_id);
    ref->set_attempt(r.attempt);
  }
  resp->set_drain(out->drain);
  return grpc::Status::OK;
}

grpc::Status WorkerApiService::AcquireJob(grpc::ServerContext* ctx,
                                          const v1::AcquireJobRequest* req,
                                          v1::AcquireJobResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.WorkerApi.AcquireJob");
  if (req->worker_id().empty()) return Invalid("worker_id is required");
  if (req->free_devices() < 0 || req->wait_ms() < 0) {
    return Invalid("free_devices and wait_ms must not be negative");
  }
  if (req->lists_held()) {
    std::vector<domain::LeaseRef> held;
    for (const v1::LeaseRef& l : req->held()) held.push_back({l.job_id(), l.attempt()});
    absl::StatusOr<int> released =
        workers_->ReleaseOrphanedLeases(who.user, req->worker_id(), held);
    if (!released.ok()) return ToGrpcStatus(released.status());
  }
  auto out = workers_->Acquire(who.user, req->worker_id(), req->free_devices(),
                               req->device_kind(), absl::Milliseconds(req->wait_ms()),
                               [ctx] { return ctx->IsCancelled(); });
  if (!out.ok()) return ToGrpcStatus(out.status());
  if (out->has_value()) {
    ToProto(**out, resp);
  } else {
    resp->set_has_job(false);
  }
  return grpc::Status::OK;
}

grpc::Status WorkerApiService::ReportResults(grpc::ServerContext* ctx,
                                             grpc::ServerReader<v1::JobEvent>* reader,
                                             v1::ReportResultsResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.WorkerApi.ReportResults");
  v1::JobEvent event;
  int accepted = 0;
  while (reader->Read(&event)) {
    auto report = FromProto(event);
    if (!report.ok()) return ToGrpcStatus(report.status());
    report->reporter = who.user;
    absl::Status s = workers_->Report(*report);
    if (!s.ok()) return ToGrpcStatus(s);
    ++accepted;
  }
  resp->set_events_accepted(accepted);
  return grpc::Status::OK;
}

grpc::Status WorkerApiService::AppendAttemptLog(grpc::ServerContext* ctx,
                                                const v1::AppendAttemptLogRequest* req,
                                                v1::AppendAttemptLogResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.WorkerApi.AppendAttemptLog");
  domain::LogAppend append = FromProto(*req);
  append.reporter = who.user;
  auto out = workers_->AppendLog(append);
  if (!out.ok()) return ToGrpcStatus(out.status());
  resp->set_next_offset(*out);
  return grpc::Status::OK;
}

}  // namespace rib::rpc
