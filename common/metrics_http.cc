#include "common/metrics_http.h"

#include <prometheus/text_serializer.h>

#include <utility>

#include "common/version.h"

namespace rib {
namespace {

// rib_build_info{version,commit,torch,cuda} 1: which build answers this scrape.
prometheus::MetricFamily BuildInfoFamily() {
  const BuildInfo info = CurrentBuildInfo();
  prometheus::MetricFamily family;
  family.name = "rib_build_info";
  family.help = "The rib build serving these metrics (always 1).";
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric m;
  m.label = {{"commit", info.git_commit},
             {"cuda", info.with_cuda ? "yes" : "no"},
             {"torch", info.torch_version},
             {"version", info.version}};
  m.gauge.value = 1;
  family.metric.push_back(std::move(m));
  return family;
}

}  // namespace

HttpResponse MetricsResponse(const Collectables& collectables) {
  std::vector<prometheus::MetricFamily> families = {BuildInfoFamily()};
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
