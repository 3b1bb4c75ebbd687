// rib.v1.WorkerApi over gRPC's sync API (see coordinator_service.h), except AcquireJob,
// on the callback API: its long-poll holds no thread and no database connection while
// it waits (WorkerService::AcquireAsync parks it in a service::LongPoll), so 1,000
// waiting workers do not need 1,000 threads. Thread-safe.
#ifndef RIB_SERVER_RPC_WORKER_API_SERVICE_H_
#define RIB_SERVER_RPC_WORKER_API_SERVICE_H_

#include "rib/v1/worker.grpc.pb.h"
#include "server/rpc/authz.h"
#include "server/service/worker_service.h"

namespace rib::rpc {

class WorkerApiService final
    : public v1::WorkerApi::WithCallbackMethod_AcquireJob<v1::WorkerApi::Service> {
 public:
  // Not owned; must outlive this object.
  WorkerApiService(service::WorkerService* workers, const Authz* authz)
      : workers_(workers), authz_(authz) {}

  grpc::Status Register(grpc::ServerContext* ctx, const v1::RegisterRequest* req,
                        v1::RegisterResponse* resp) override;
  // NOT_FOUND for an unknown worker: it must kill its ranks and register anew.
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req,
                         v1::HeartbeatResponse* resp) override;
  // Answered from a LongPoll thread; RESOURCE_EXHAUSTED when
  // WorkerServiceOptions::max_waiting_acquires calls already wait.
  grpc::ServerUnaryReactor* AcquireJob(grpc::CallbackServerContext* ctx,
                                       const v1::AcquireJobRequest* req,
                                       v1::AcquireJobResponse* resp) override;
  // Stops at the first rejected event and returns its status (FAILED_PRECONDITION for
  // a stale attempt, PERMISSION_DENIED for an event without the lease's secret or from
  // another worker's token); events before it stay written.
  grpc::Status ReportResults(grpc::ServerContext* ctx,
                             grpc::ServerReader<v1::JobEvent>* reader,
                             v1::ReportResultsResponse* resp) override;
  grpc::Status AppendAttemptLog(grpc::ServerContext* ctx,
                                const v1::AppendAttemptLogRequest* req,
                                v1::AppendAttemptLogResponse* resp) override;

 private:
  service::WorkerService* const workers_;
  const Authz* const authz_;
};

}  // namespace rib::rpc

#endif  // RIB_SERVER_RPC_WORKER_API_SERVICE_H_
