#include "server/rpc/coordinator_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/rpc/convert.h"
#include "server/rpc/status.h"

namespace rib::rpc {
namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

grpc::Status RequireId(const std::string& value, const char* field) {
  if (value.empty()) return Invalid(absl::StrCat(field, " is required"));
  if (value.size() > 200) return Invalid(absl::StrCat(field, " is too long"));
  return grpc::Status::OK;
}

std::string Owner(const grpc::ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("x-rib-user");
  if (it == md.end() || it->second.empty()) return "anonymous";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

grpc::Status CoordinatorService::SubmitSweep(grpc::ServerContext* ctx,
                                             const v1::SubmitSweepRequest* req,
                                             v1::SubmitSweepResponse* resp) {
  if (req->sweep_yaml().empty()) return Invalid("sweep_yaml is empty");
  if (req->client_request_id().size() > 200)
    return Invalid("client_request_id is too long");
  service::SubmitRequest in;
  in.yaml = req->sweep_yaml();
  in.source_name = req->source_name().empty() ? "sweep" : req->source_name();
  in.client_request_id = req->client_request_id();
  in.force = req->force();
  in.owner = Owner(ctx);
  auto out = sweeps_->Submit(in);
  if (!out.ok()) return ToGrpcStatus(out.status());
  resp->set_sweep_id(out->sweep_id);
  resp->set_jobs_total(out->jobs_total);
  resp->set_jobs_new(out->jobs_new);
  resp->set_jobs_reused(out->jobs_reused);
  resp->set_existing(out->existing);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetSweep(grpc::ServerContext*,
                                          const v1::GetSweepRequest* req,
                                          v1::Sweep* resp) {
  if (auto s = RequireId(req->sweep_id(), "sweep_id"); !s.ok()) return s;
  auto out = sweeps_->Get(req->sweep_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListSweeps(grpc::ServerContext*,
                                            const v1::ListSweepsRequest* req,
                                            v1::ListSweepsResponse* resp) {
  if (req->page_size() < 0) return Invalid("page_size must not be negative");
  auto out = sweeps_->List(req->page_size(), req->page_token());
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& s : out->sweeps) ToProto(s, resp->add_sweeps());
  resp->set_next_page_token(out->next_page_token);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelSweep(grpc::ServerContext*,
                                             const v1::CancelSweepRequest* req,
                                             v1::Sweep* resp) {
  if (auto s = RequireId(req->sweep_id(), "sweep_id"); !s.ok()) return s;
  auto out = sweeps_->Cancel(req->sweep_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::RetrySweep(grpc::ServerContext*,
                                            const v1::RetrySweepRequest* req,
                                            v1::Sweep* resp) {
  if (auto s = RequireId(req->sweep_id(), "sweep_id"); !s.ok()) return s;
  auto out = sweeps_->Retry(req->sweep_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext*,
                                          const v1::ListJobsRequest* req,
                                          v1::ListJobsResponse* resp) {
  if (req->page_size() < 0) return Invalid("page_size must not be negative");
  auto state = FromProto(req->state());
  if (!state.ok()) return ToGrpcStatus(state.status());
  storage::JobFilter filter;
  filter.sweep_id = req->sweep_id();
  filter.state = *state;
  filter.page_size = req->page_size();
  filter.page_token = req->page_token();
  auto out = sweeps_->ListJobs(filter);
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& j : out->jobs) ToProto(j, resp->add_jobs());
  resp->set_next_page_token(out->next_page_token);
  resp->set_total(out->total);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext*,
                                        const v1::GetJobRequest* req, v1::Job* resp) {
  if (auto s = RequireId(req->job_id(), "job_id"); !s.ok()) return s;
  auto out = sweeps_->GetJob(req->job_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::WatchSweep(grpc::ServerContext* ctx,
                                            const v1::WatchSweepRequest* req,
                                            grpc::ServerWriter<v1::SweepEvent>* writer) {
  if (auto s = RequireId(req->sweep_id(), "sweep_id"); !s.ok()) return s;
  absl::Status s = sweeps_->Watch(
      req->sweep_id(), req->include_snapshot(),
      [writer](const domain::SweepEvent& e) {
        v1::SweepEvent out;
        ToProto(e, &out);
        return writer->Write(out);
      },
      [ctx] { return ctx->IsCancelled(); });
  return ToGrpcStatus(s);
}

grpc::Status CoordinatorService::GetMatrix(grpc::ServerContext*,
                                           const v1::GetMatrixRequest* req,
                                           v1::GetMatrixResponse* resp) {
  if (auto s = RequireId(req->sweep_id(), "sweep_id"); !s.ok()) return s;
  auto out = sweeps_->GetMatrix(req->sweep_id(), req->model(), req->method());
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& m : *out) ToProto(m, resp->add_matrices());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListWorkers(grpc::ServerContext*,
                                             const v1::ListWorkersRequest*,
                                             v1::ListWorkersResponse* resp) {
  auto out = workers_->ListWorkers();
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& w : *out) ToProto(w, resp->add_workers());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::DrainWorker(grpc::ServerContext*,
                                             const v1::DrainWorkerRequest* req,
                                             v1::Worker* resp) {
  if (auto s = RequireId(req->worker_id(), "worker_id"); !s.ok()) return s;
  auto out = workers_->Drain(req->worker_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

}  // namespace rib::rpc
