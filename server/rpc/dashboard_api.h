// The dashboard's JSON API (GET /api/...): each route answers what its equivalent read
// RPC answers, through the same service call and the same ToProto, printed as the
// message's proto3 JSON (field names as in the .proto). So a page shows exactly what
// `rib` shows, and the rules are the RPC's:
//
//   /api/whoami                      WhoAmIResponse       rule of WhoAmI
//   /api/workers                     ListWorkersResponse  rule of ListWorkers
//   /api/pool                        queue by owner, jobs finished per hour
//                                    (service::SummarizePool)   rule of ListJobs
//   /api/sweeps[?page_token=T]       ListSweepsResponse   rule of ListSweeps
//   /api/sweeps/ID                   Sweep                rule of GetSweep
//   /api/sweeps/ID/matrix[?model=M&method=X]  GetMatrixResponse  rule of GetMatrix
//   /api/sweeps/ID/jobs[?state=FAILED&page_token=T]  ListJobsResponse  rule of ListJobs
//
// Every route reads "Authorization: Bearer TOKEN", authenticates it (IdentityService)
// and asks auth::Authorize with the RPC's full name. Errors are JSON
// {"code": "PERMISSION_DENIED", "error": "..."} with the HTTP status of the code
// (401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 400 INVALID_ARGUMENT,
// 503 UNAVAILABLE, 500 otherwise). Nothing here changes state.
//
// Thread-safe (as the services).
#ifndef RIB_SERVER_RPC_DASHBOARD_API_H_
#define RIB_SERVER_RPC_DASHBOARD_API_H_

#include "absl/status/status.h"
#include "common/http_server.h"
#include "server/service/identity_service.h"
#include "server/service/sweep_service.h"
#include "server/service/worker_service.h"

namespace rib::rpc {

class DashboardApi {
 public:
  // Not owned; must outlive this object.
  DashboardApi(service::SweepService* sweeps, service::WorkerService* workers,
               service::IdentityService* identity)
      : sweeps_(sweeps), workers_(workers), identity_(identity) {}

  // A GET of a path under /api/; 404 (JSON) for one that is not a route.
  HttpResponse Handle(const HttpRequest& req) const;

 private:
  service::SweepService* const sweeps_;
  service::WorkerService* const workers_;
  service::IdentityService* const identity_;
};

// The JSON error response of `status` (not OK), with its HTTP status.
HttpResponse JsonError(const absl::Status& status);

}  // namespace rib::rpc

#endif  // RIB_SERVER_RPC_DASHBOARD_API_H_
