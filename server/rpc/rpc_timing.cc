#include "server/rpc/rpc_timing.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"

namespace rib::rpc {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcTimer : public grpc::experimental::Interceptor {
 public:
  RpcTimer(service::CoordinatorMetrics* metrics, const char* method)
      : metrics_(metrics),
        method_(method != nullptr ? method : ""),
        start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      // gRPC's status codes and Abseil's share their numbers and names.
      const auto code =
          static_cast<absl::StatusCode>(methods->GetSendStatus().error_code());
      metrics_->ObserveRpc(method_, absl::StatusCodeToString(code), absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  service::CoordinatorMetrics* const metrics_;
  const std::string method_;
  const absl::Time start_;
};

class RpcTimerFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcTimerFactory(service::CoordinatorMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcTimer(metrics_, info->method());
  }

 private:
  service::CoordinatorMetrics* const metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcTimingFactory(
    service::CoordinatorMetrics* metrics) {
  return std::make_unique<RpcTimerFactory>(metrics);
}

}  // namespace rib::rpc
