#include "server/http/assets.h"

#include "absl/strings/match.h"

namespace rib::http {
namespace internal {
// Defined in the generated assets_data.cc.
extern const Asset kAssets[];
extern const int kAssetCount;
}  // namespace internal

const Asset* FindAsset(absl::string_view name) {
  for (int i = 0; i < internal::kAssetCount; ++i) {
    if (internal::kAssets[i].name == name) return &internal::kAssets[i];
  }
  return nullptr;
}

absl::string_view AssetContentType(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace rib::http
