// rib.v1.Coordinator over gRPC's sync API: each handler converts the request,
// validates it, calls SweepService / WorkerService, converts the reply and maps the
// status with ToGrpcStatus. Thread-safe.
//
// The caller's user name comes from the "x-rib-user" request metadata ("anonymous"
// when absent) until authentication lands.
#ifndef RIB_SERVER_RPC_COORDINATOR_SERVICE_H_
#define RIB_SERVER_RPC_COORDINATOR_SERVICE_H_

#include "rib/v1/coordinator.grpc.pb.h"
#include "server/service/sweep_service.h"
#include "server/service/worker_service.h"

namespace rib::rpc {

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  // Not owned; must outlive this object.
  CoordinatorService(service::SweepService* sweeps, service::WorkerService* workers)
      : sweeps_(sweeps), workers_(workers) {}

  grpc::Status SubmitSweep(grpc::ServerContext* ctx, const v1::SubmitSweepRequest* req,
                           v1::SubmitSweepResponse* resp) override;
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
  grpc::Status WatchSweep(grpc::ServerContext* ctx, const v1::WatchSweepRequest* req,
                          grpc::ServerWriter<v1::SweepEvent>* writer) override;
  grpc::Status GetMatrix(grpc::ServerContext* ctx, const v1::GetMatrixRequest* req,
                         v1::GetMatrixResponse* resp) override;
  grpc::Status ListWorkers(grpc::ServerContext* ctx, const v1::ListWorkersRequest* req,
                           v1::ListWorkersResponse* resp) override;
  grpc::Status DrainWorker(grpc::ServerContext* ctx, const v1::DrainWorkerRequest* req,
                           v1::Worker* resp) override;

 private:
  service::SweepService* const sweeps_;
  service::WorkerService* const workers_;
};

}  // namespace rib::rpc

#endif  // RIB_SERVER_RPC_COORDINATOR_SERVICE_H_
