// rib.v1.Coordinator over gRPC's sync API: each handler first asks Authz who calls and
// whether they may (the bearer token; auth/policy.h's table), then converts the
// request, validates it, calls SweepService / WorkerService / IdentityService, converts
// the reply and maps the status with ToGrpcStatus. The owner of a submitted sweep is
// the caller's token user. Thread-safe.
#ifndef RIB_SERVER_RPC_COORDINATOR_SERVICE_H_
#define RIB_SERVER_RPC_COORDINATOR_SERVICE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "server/rpc/authz.h"
#include "server/service/identity_service.h"
#include "server/service/sweep_service.h"
#include "server/service/worker_service.h"

namespace rib::rpc {

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  // Not owned; must outlive this object.
  CoordinatorService(service::SweepService* sweeps, service::WorkerService* workers,
                     service::IdentityService* identity, const Authz* authz)
      : sweeps_(sweeps), workers_(workers), identity_(identity), authz_(authz) {}

  grpc::Status SubmitSweep(grpc::ServerContext* ctx, const v1::SubmitSweepRequest* req,
                           v1::SubmitSweepResponse* resp) override;
  grpc::Status PlanSweep(grpc::ServerContext* ctx, const v1::SubmitSweepRequest* req,
                         v1::SweepPlan* resp) override;
  grpc::Status GetSweep(grpc::ServerContext* ctx, const v1::GetSweepRequest* req,
                        v1::Sweep* resp) override;
  grpc::Status ListSweeps(grpc::ServerContext* ctx, const v1::ListSweepsRequest* req,
                          v1::ListSweepsResponse* resp) override;
  grpc::Status CancelSweep(grpc::ServerContext* ctx, const v1::CancelSweepRequest* req,
                           v1::Sweep* resp) override;
  grpc::Status RetrySweep(grpc::ServerContext* ctx, const v1::RetrySweepRequest* req,
                          v1::Sweep* resp) override;
  grpc::Status ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req,
                        v1::ListJobsResponse* resp) override;
  grpc::Status GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* req,
                      v1::Job* resp) override;
  grpc::Status DescribeJob(grpc::ServerContext* ctx, const v1::DescribeJobRequest* req,
                           v1::JobDetail* resp) override;
  // The sweep's owner or an admin (PERMISSION_DENIED naming the owner otherwise).
  grpc::Status GetAttemptLog(grpc::ServerContext* ctx, const v1::GetAttemptLogRequest* req,
                             v1::AttemptLog* resp) override;
  grpc::Status WatchSweep(grpc::ServerContext* ctx, const v1::WatchSweepRequest* req,
                          grpc::ServerWriter<v1::SweepEvent>* writer) override;
  grpc::Status GetMatrix(grpc::ServerContext* ctx, const v1::GetMatrixRequest* req,
                         v1::GetMatrixResponse* resp) override;
  grpc::Status ListWorkers(grpc::ServerContext* ctx, const v1::ListWorkersRequest* req,
                           v1::ListWorkersResponse* resp) override;
  grpc::Status DrainWorker(grpc::ServerContext* ctx, const v1::DrainWorkerRequest* req,
                           v1::Worker* resp) override;
  grpc::Status UndrainWorker(grpc::ServerContext* ctx, const v1::UndrainWorkerRequest* req,
                             v1::Worker* resp) override;
  grpc::Status SetSweepPriority(grpc::ServerContext* ctx,
                                const v1::SetSweepPriorityRequest* req,
                                v1::Sweep* resp) override;
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                      v1::WhoAmIResponse* resp) override;
  grpc::Status CreateToken(grpc::ServerContext* ctx, const v1::CreateTokenRequest* req,
                           v1::CreateTokenResponse* resp) override;
  grpc::Status ListTokens(grpc::ServerContext* ctx, const v1::ListTokensRequest* req,
                          v1::ListTokensResponse* resp) override;
  grpc::Status RevokeToken(grpc::ServerContext* ctx, const v1::RevokeTokenRequest* req,
                           v1::TokenInfo* resp) override;
  grpc::Status SetQuota(grpc::ServerContext* ctx, const v1::SetQuotaRequest* req,
                        v1::Quota* resp) override;
  grpc::Status ListQuotas(grpc::ServerContext* ctx, const v1::ListQuotasRequest* req,
                          v1::ListQuotasResponse* resp) override;

 private:
  // SubmitSweep's and PlanSweep's request, checked, for `who`.
  absl::StatusOr<service::SubmitRequest> SubmitRequestFrom(const domain::Principal& who,
                                                           const v1::SubmitSweepRequest& req);
  // The owner part of a kSweepOwner rule: OK when `who` may act on the sweep.
  grpc::Status CheckSweepOwner(const domain::Principal& who, absl::string_view rpc,
                               const std::string& sweep_id);

  service::SweepService* const sweeps_;
  service::WorkerService* const workers_;
  service::IdentityService* const identity_;
  const Authz* const authz_;
};

}  // namespace rib::rpc

#endif  // RIB_SERVER_RPC_COORDINATOR_SERVICE_H_
