#include "server/rpc/coordinator_service.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/auth/policy.h"
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

}  // namespace

grpc::Status CoordinatorService::CheckSweepOwner(const domain::Principal& who,
                                                 absl::string_view rpc,
                                                 const std::string& sweep_id) {
  if (auto s = RequireId(sweep_id, "sweep_id"); !s.ok()) return s;
  auto sweep = sweeps_->Get(sweep_id);
  if (!sweep.ok()) return ToGrpcStatus(sweep.status());
  return ToGrpcStatus(auth::Authorize(who, rpc, &sweep->owner));
}

absl::StatusOr<service::SubmitRequest> CoordinatorService::SubmitRequestFrom(
    const domain::Principal& who, const v1::SubmitSweepRequest& req) {
  if (req.sweep_yaml().empty()) return absl::InvalidArgumentError("sweep_yaml is empty");
  if (req.client_request_id().size() > 200) {
    return absl::InvalidArgumentError("client_request_id is too long");
  }
  service::SubmitRequest in;
  in.yaml = req.sweep_yaml();
  in.source_name = req.source_name().empty() ? "sweep" : req.source_name();
  in.client_request_id = req.client_request_id();
  in.force = req.force();
  in.owner = who.user;
  in.may_exceed_priority_cap = auth::MayExceedPriorityCap(who);
  return in;
}

grpc::Status CoordinatorService::PlanSweep(grpc::ServerContext* ctx,
                                           const v1::SubmitSweepRequest* req,
                                           v1::SweepPlan* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.PlanSweep");
  auto in = SubmitRequestFrom(who, *req);
  if (!in.ok()) return ToGrpcStatus(in.status());
  auto out = sweeps_->Plan(*in);
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::SubmitSweep(grpc::ServerContext* ctx,
                                             const v1::SubmitSweepRequest* req,
                                             v1::SubmitSweepResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.SubmitSweep");
  auto in = SubmitRequestFrom(who, *req);
  if (!in.ok()) return ToGrpcStatus(in.status());
  auto out = sweeps_->Submit(*in);
  if (!out.ok()) return ToGrpcStatus(out.status());
  resp->set_sweep_id(out->sweep_id);
  resp->set_jobs_total(out->jobs_total);
  resp->set_jobs_new(out->jobs_new);
  resp->set_jobs_reused(out->jobs_reused);
  resp->set_existing(out->existing);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetSweep(grpc::ServerContext* ctx,
                                          const v1::GetSweepRequest* req,
                                          v1::Sweep* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.GetSweep");
  if (auto s = RequireId(req->sweep_id(), "sweep_id"); !s.ok()) return s;
  auto out = sweeps_->Get(req->sweep_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListSweeps(grpc::ServerContext* ctx,
                                            const v1::ListSweepsRequest* req,
                                            v1::ListSweepsResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.ListSweeps");
  if (req->page_size() < 0) return Invalid("page_size must not be negative");
  auto out = sweeps_->List(req->page_size(), req->page_token());
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& s : out->sweeps) ToProto(s, resp->add_sweeps());
  resp->set_next_page_token(out->next_page_token);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelSweep(grpc::ServerContext* ctx,
                                             const v1::CancelSweepRequest* req,
                                             v1::Sweep* resp) {
  constexpr absl::string_view kRpc = "rib.v1.Coordinator.CancelSweep";
  RIB_RPC_CALLER(who, kRpc);
  if (auto s = CheckSweepOwner(who, kRpc, req->sweep_id()); !s.ok()) return s;
  auto out = sweeps_->Cancel(req->sweep_id(), who.user);
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::RetrySweep(grpc::ServerContext* ctx,
                                            const v1::RetrySweepRequest* req,
                                            v1::Sweep* resp) {
  constexpr absl::string_view kRpc = "rib.v1.Coordinator.RetrySweep";
  RIB_RPC_CALLER(who, kRpc);
  if (auto s = CheckSweepOwner(who, kRpc, req->sweep_id()); !s.ok()) return s;
  auto out = sweeps_->Retry(req->sweep_id(), who.user);
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::SetSweepPriority(grpc::ServerContext* ctx,
                                                  const v1::SetSweepPriorityRequest* req,
                                                  v1::Sweep* resp) {
  constexpr absl::string_view kRpc = "rib.v1.Coordinator.SetSweepPriority";
  RIB_RPC_CALLER(who, kRpc);
  if (auto s = CheckSweepOwner(who, kRpc, req->sweep_id()); !s.ok()) return s;
  auto out = sweeps_->SetPriority(req->sweep_id(), req->priority(),
                                  auth::MayExceedPriorityCap(who));
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext* ctx,
                                          const v1::ListJobsRequest* req,
                                          v1::ListJobsResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.ListJobs");
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

grpc::Status CoordinatorService::GetJob(grpc::ServerContext* ctx,
                                        const v1::GetJobRequest* req, v1::Job* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.GetJob");
  if (auto s = RequireId(req->job_id(), "job_id"); !s.ok()) return s;
  auto out = sweeps_->GetJob(req->job_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::DescribeJob(grpc::ServerContext* ctx,
                                             const v1::DescribeJobRequest* req,
                                             v1::JobDetail* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.DescribeJob");
  if (auto s = RequireId(req->job_id(), "job_id"); !s.ok()) return s;
  auto out = sweeps_->DescribeJob(req->job_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(out->job, resp->mutable_job());
  resp->set_spec_json(out->spec_json);
  for (const auto& a : out->attempts) ToProto(a, resp->add_attempts());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetAttemptLog(grpc::ServerContext* ctx,
                                               const v1::GetAttemptLogRequest* req,
                                               v1::AttemptLog* resp) {
  constexpr absl::string_view kRpc = "rib.v1.Coordinator.GetAttemptLog";
  RIB_RPC_CALLER(who, kRpc);
  if (auto s = RequireId(req->job_id(), "job_id"); !s.ok()) return s;
  auto job = sweeps_->GetJob(req->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  if (auto s = CheckSweepOwner(who, kRpc, job->sweep_id); !s.ok()) return s;
  auto out = sweeps_->ReadLog(req->job_id(), req->attempt(), req->rank(), req->offset(),
                              req->max_bytes());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::WatchSweep(grpc::ServerContext* ctx,
                                            const v1::WatchSweepRequest* req,
                                            grpc::ServerWriter<v1::SweepEvent>* writer) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.WatchSweep");
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

grpc::Status CoordinatorService::GetMatrix(grpc::ServerContext* ctx,
                                           const v1::GetMatrixRequest* req,
                                           v1::GetMatrixResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.GetMatrix");
  if (auto s = RequireId(req->sweep_id(), "sweep_id"); !s.ok()) return s;
  auto out = sweeps_->GetMatrix(req->sweep_id(), req->model(), req->method());
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& m : *out) ToProto(m, resp->add_matrices());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListWorkers(grpc::ServerContext* ctx,
                                             const v1::ListWorkersRequest*,
                                             v1::ListWorkersResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.ListWorkers");
  auto out = workers_->ListWorkers();
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& w : *out) ToProto(w, resp->add_workers());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::DrainWorker(grpc::ServerContext* ctx,
                                             const v1::DrainWorkerRequest* req,
                                             v1::Worker* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.DrainWorker");
  if (auto s = RequireId(req->worker_id(), "worker_id"); !s.ok()) return s;
  auto out = workers_->Drain(req->worker_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::UndrainWorker(grpc::ServerContext* ctx,
                                               const v1::UndrainWorkerRequest* req,
                                               v1::Worker* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.UndrainWorker");
  if (auto s = RequireId(req->worker_id(), "worker_id"); !s.ok()) return s;
  auto out = workers_->Undrain(req->worker_id());
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*,
                                        v1::WhoAmIResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.WhoAmI");
  resp->set_user(who.user);
  resp->set_role(ToProto(who.role));
  resp->set_token_id(who.token_id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CreateToken(grpc::ServerContext* ctx,
                                             const v1::CreateTokenRequest* req,
                                             v1::CreateTokenResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.CreateToken");
  auto role = FromProto(req->role());
  if (!role.ok()) return ToGrpcStatus(role.status());
  auto out = identity_->CreateToken(req->user(), *role, who.user);
  if (!out.ok()) return ToGrpcStatus(out.status());
  resp->set_token(out->token);
  ToProto(out->info, resp->mutable_info());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListTokens(grpc::ServerContext* ctx,
                                            const v1::ListTokensRequest* req,
                                            v1::ListTokensResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.ListTokens");
  auto out = identity_->ListTokens(req->include_revoked());
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& t : *out) ToProto(t, resp->add_tokens());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::RevokeToken(grpc::ServerContext* ctx,
                                             const v1::RevokeTokenRequest* req,
                                             v1::TokenInfo* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.RevokeToken");
  if (auto s = RequireId(req->token_id(), "token_id"); !s.ok()) return s;
  auto out = identity_->RevokeToken(req->token_id(), who.user);
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::SetQuota(grpc::ServerContext* ctx,
                                          const v1::SetQuotaRequest* req, v1::Quota* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.SetQuota");
  auto out = identity_->SetQuota(
      req->user(), req->unlimited() ? std::nullopt : std::optional<int>(req->devices()));
  if (!out.ok()) return ToGrpcStatus(out.status());
  ToProto(*out, resp);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListQuotas(grpc::ServerContext* ctx,
                                            const v1::ListQuotasRequest*,
                                            v1::ListQuotasResponse* resp) {
  RIB_RPC_CALLER(who, "rib.v1.Coordinator.ListQuotas");
  auto out = identity_->ListQuotas();
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const auto& q : *out) ToProto(q, resp->add_quotas());
  return grpc::Status::OK;
}

}  // namespace rib::rpc
