#include "server/rpc/worker_api_service.h"

#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/rpc/convert.h"
#include "server/rpc/status.h"

namespace rib::rpc {
namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// A unary reactor that records a cancel (the client gave up, or the server is shutting
// down) for whoever answers it later, and deletes itself when gRPC is done with it.
class CancellableReactor : public grpc::ServerUnaryReactor {
 public:
  std::shared_ptr<const std::atomic<bool>> cancelled() const { return cancelled_; }
  void OnCancel() override { cancelled_->store(true); }
  void OnDone() override { delete this; }

 private:
  const std::shared_ptr<std::atomic<bool>> cancelled_ =
      std::make_shared<std::atomic<bool>>(false);
};

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

grpc::ServerUnaryReactor* WorkerApiService::AcquireJob(grpc::CallbackServerContext* ctx,
                                                       const v1::AcquireJobRequest* req,
                                                       v1::AcquireJobResponse* resp) {
  auto* reactor = new CancellableReactor();
  absl::StatusOr<domain::Principal> who = authz_->Check(ctx, "rib.v1.WorkerApi.AcquireJob");
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  if (req->worker_id().empty()) {
    reactor->Finish(Invalid("worker_id is required"));
    return reactor;
  }
  if (req->free_devices() < 0 || req->wait_ms() < 0) {
    reactor->Finish(Invalid("free_devices and wait_ms must not be negative"));
    return reactor;
  }
  service::AcquireRequest acquire;
  acquire.principal = who->user;
  acquire.worker_id = req->worker_id();
  acquire.free_devices = req->free_devices();
  acquire.device_kind = req->device_kind();
  acquire.wait = absl::Milliseconds(req->wait_ms());
  if (req->lists_held()) {
    acquire.held.emplace();
    for (const v1::LeaseRef& l : req->held()) acquire.held->push_back({l.job_id(), l.attempt()});
  }
  workers_->AcquireAsync(
      std::move(acquire), reactor->cancelled(),
      [reactor, resp](absl::StatusOr<std::optional<domain::Lease>> out) {
        if (!out.ok()) {
          reactor->Finish(ToGrpcStatus(out.status()));
          return;
        }
        if (out->has_value()) {
          ToProto(**out, resp);
        } else {
          resp->set_has_job(false);
        }
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
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
