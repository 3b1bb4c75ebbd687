// The coordinator's HTTP routes (--http-listen): the read-only web dashboard and the
// Prometheus scrape, on one server.
//
//   GET /                 the dashboard page (server/http/assets/index.html)
//   GET /assets/NAME      its script and style sheet, embedded in the binary
//   GET /api/...          JSON, as the equivalent read RPC answers (rpc/dashboard_api.h)
//   GET /metrics          Prometheus text format (as --metrics-listen serves it)
//
// Every response carries a Content-Security-Policy that allows only this origin's
// script and style (no inline script, nothing from elsewhere, no framing),
// X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer. Methods other than
// GET and HEAD are 405; unknown paths 404. Thread-safe (as its parts).
#ifndef RIB_SERVER_HTTP_DASHBOARD_H_
#define RIB_SERVER_HTTP_DASHBOARD_H_

#include <utility>

#include "common/http_server.h"
#include "common/metrics_http.h"
#include "server/rpc/dashboard_api.h"

namespace rib::http {

inline constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

class Dashboard {
 public:
  // `api` is not owned and must outlive this object; the collectables must too.
  Dashboard(const rpc::DashboardApi* api, Collectables metrics)
      : api_(api), metrics_(std::move(metrics)) {}

  HttpResponse Handle(const HttpRequest& req) const;

 private:
  HttpResponse Route(const HttpRequest& req) const;

  const rpc::DashboardApi* const api_;
  const Collectables metrics_;
};

}  // namespace rib::http

#endif  // RIB_SERVER_HTTP_DASHBOARD_H_
