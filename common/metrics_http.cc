#include "common/metrics_http.h"

#include <prometheus/text_serializer.h>

#include <utility>

namespace rib {

HttpResponse MetricsResponse(const Collectables& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : collectables) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = prometheus::TextSerializer().Serialize(families);
  return r;
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, Collectables collectables) {
  auto handler = [collectables = std::move(collectables)](const HttpRequest& req) {
    if (req.method != "GET" || req.path != "/metrics") {
      return TextResponse(404, "only GET /metrics is served\n");
    }
    return MetricsResponse(collectables);
  };
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start(address, std::move(handler), HttpServerOptions{}, "metrics");
  if (!http.ok()) return http.status();
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(*std::move(http)));
}

}  // namespace rib
