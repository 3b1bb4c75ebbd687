// The dashboard's static files, embedded in the binary at build time from
// server/http/assets/ (cmake/embed_assets.cmake writes assets_data.cc). Immutable data;
// thread-safe.
#ifndef RIB_SERVER_HTTP_ASSETS_H_
#define RIB_SERVER_HTTP_ASSETS_H_

#include "absl/strings/string_view.h"

namespace rib::http {

struct Asset {
  absl::string_view name;  // file name under assets/, "app.js"
  absl::string_view body;
};

// The asset called `name`; nullptr when there is none.
const Asset* FindAsset(absl::string_view name);

// "text/html; charset=utf-8", "text/javascript; charset=utf-8", "text/css; ...", by
// the name's extension; "application/octet-stream" otherwise.
absl::string_view AssetContentType(absl::string_view name);

}  // namespace rib::http

#endif  // RIB_SERVER_HTTP_ASSETS_H_
