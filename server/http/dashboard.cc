#include "server/http/dashboard.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/http/assets.h"

namespace rib::http {
namespace {

HttpResponse AssetResponse(const Asset& asset) {
  HttpResponse r;
  r.content_type = std::string(AssetContentType(asset.name));
  r.body = std::string(asset.body);
  return r;
}

}  // namespace

HttpResponse Dashboard::Handle(const HttpRequest& req) const {
  HttpResponse r = Route(req);
  r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

HttpResponse Dashboard::Route(const HttpRequest& req) const {
  if (req.method != "GET") {
    HttpResponse r = TextResponse(
        405,
        absl::StrCat(req.method, " is not allowed: the dashboard is read-only (GET)\n"));
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (req.path == "/metrics") return MetricsResponse(metrics_);
  if (absl::StartsWith(req.path, "/api/")) return api_->Handle(req);
  if (req.path == "/" || req.path == "/index.html") {
    if (const Asset* a = FindAsset("index.html")) return AssetResponse(*a);
  }
  if (absl::StartsWith(req.path, "/assets/")) {
    const std::string name = req.path.substr(sizeof("/assets/") - 1);
    // Names are flat: no folders, so no ".." can reach anything but the table.
    if (name != "index.html" && name.find('/') == std::string::npos) {
      if (const Asset* a = FindAsset(name)) return AssetResponse(*a);
    }
  }
  return TextResponse(404, absl::StrCat("no page ", req.path, "\n"));
}

}  // namespace rib::http
