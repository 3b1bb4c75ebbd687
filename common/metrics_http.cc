#include "common/metrics_http.h"

#include <prometheus/text_serializer.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"

namespace rib {
namespace {

ABSL_CONST_INIT absl::Mutex g_build_mu(absl::kConstInit);
std::optional<prometheus::ClientMetric>* g_build_info ABSL_GUARDED_BY(g_build_mu) =
    new std::optional<prometheus::ClientMetric>();  // never destroyed

// rib_build_info{...} 1, when SetBuildInfoMetric was called.
std::vector<prometheus::MetricFamily> BuildInfoFamilies() {
  absl::MutexLock lock(&g_build_mu);
  if (!g_build_info->has_value()) return {};
  prometheus::MetricFamily family;
  family.name = "rib_build_info";
  family.help = "The rib build serving these metrics (always 1).";
  family.type = prometheus::MetricType::Gauge;
  family.metric.push_back(**g_build_info);
  return {family};
}

}  // namespace

void SetBuildInfoMetric(const std::vector<std::pair<std::string, std::string>>& labels) {
  prometheus::ClientMetric m;
  for (const auto& [name, value] : labels) m.label.push_back({name, value});
  m.gauge.value = 1;
  absl::MutexLock lock(&g_build_mu);
  *g_build_info = std::move(m);
}

HttpResponse MetricsResponse(const Collectables& collectables) {
  std::vector<prometheus::MetricFamily> families = BuildInfoFamilies();
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
