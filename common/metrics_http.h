// Prometheus scrapes over rib's HTTP server (common/http_server.h): GET /metrics
// answers with the text exposition format of the registered collectables; anything
// else gets 404. The coordinator's dashboard server routes /metrics to
// MetricsResponse as well, so both serve the same bytes.
#ifndef RIB_COMMON_METRICS_HTTP_H_
#define RIB_COMMON_METRICS_HTTP_H_

#include <prometheus/collectable.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/http_server.h"

namespace rib {

using Collectables = std::vector<std::shared_ptr<prometheus::Collectable>>;

// The scrape of `collectables` (collected now) as an HTTP 200 response. Once
// SetBuildInfoMetric was called, every scrape starts with rib_build_info{LABELS} 1.
HttpResponse MetricsResponse(const Collectables& collectables);

// The labels of this process's rib_build_info (name, value; sorted by name as
// Prometheus shows them). ParseFlagsOrExit (common/program.h) sets them from the build's
// facts: commit, cuda, torch, version. Thread-safe.
void SetBuildInfoMetric(const std::vector<std::pair<std::string, std::string>>& labels);
class MetricsHttpServer {
 public:
  // Listens on "HOST:PORT" (an IPv4 address, "localhost" or "0.0.0.0"; port 0 picks a
  // free one). INVALID_ARGUMENT for a malformed address, UNAVAILABLE when it cannot bind.
  // The collectables must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, Collectables collectables);
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return http_->port(); }

 private:
  explicit MetricsHttpServer(std::unique_ptr<HttpServer> http) : http_(std::move(http)) {}
  std::unique_ptr<HttpServer> http_;
};

}  // namespace rib

#endif  // RIB_COMMON_METRICS_HTTP_H_
